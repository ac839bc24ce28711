/**
 * @module process/pool
 * The primary's worker processes (`workers = N`) on node:cluster: starting them with the
 * configuration text, replacing one that dies, sending commands to all and gathering
 * their answers, stopping them.
 *
 * Listening sockets: a worker's `listen()` is answered by the primary, which binds the
 * address once (as root, so ports below 1024 work) and keeps it for as long as a worker
 * uses it. With SCHED_NONE (our default on Linux) the primary sends the bound socket
 * itself to every worker and each worker accepts from it directly; the kernel wakes one
 * of them per connection. Node's default, round-robin (SCHED_RR, or
 * NODE_CLUSTER_SCHED_POLICY=rr), has the primary accept every connection and pass it on,
 * which costs the primary CPU on every connection. Only the addresses in `granted` are bound
 * (process/bindguard): a worker asking for another is killed, and replaced.
 *
 * Every message from a worker is checked against its type's shape (process/messages) before
 * the primary acts on it; one that fails is dropped and logged.
 *
 * Sessions: what a worker's `sessions` event carries is kept in `sessions` and relayed to the
 * other serving workers; a worker that becomes ready gets every session kept first
 * (process/sessionshare).
 */
import cluster, { type Worker } from 'node:cluster';
import type { ActiveConnection } from '../engine/engine';
import { StartupError } from '../errors';
import type { LogWriter } from '../log';
import type { MetricsJson } from '../metrics/endpoint';
import { guardBinds, type BindKey } from './bindguard';
import { isWorkerEvent, type Command, type SharedSession, type WorkerEvent } from './messages';
import { Batches, SessionCopies } from './sessionshare';

/** How long a worker that stopped answering gets before it is killed / left out. */
const STOP_BACKSTOP_MS = 5000;
const REPLY_BACKSTOP_MS = 10000;
/** A worker that dies this soon after starting is replaced after this pause, not at once. */
const QUICK_DEATH_MS = 1000;

/** What the workers need to start: the configuration as the primary read it. */
export interface WorkerSetup {
  readonly configBytes: Buffer;
  readonly source: string;
  readonly ticketSecret: Buffer;
  readonly daemonized: boolean;
  /** Key passphrases the primary was told (key file, passphrase). */
  readonly passphrases: ReadonlyArray<readonly [string, string]>;
}

interface Member {
  readonly worker: Worker;
  readonly pid: number;
  readonly startedAt: number;
  ready: boolean;
  /** Sessions on their way to this worker. */
  readonly sessions: Batches;
}

/** `exited with code 1` / `exited on signal SIGKILL`. */
export function exitText(code: number | null, signal: string | null): string {
  return signal ? `exited on signal ${signal}` : `exited with code ${code}`;
}

/** Lets workers accept from the shared socket themselves, unless NODE_CLUSTER_SCHED_POLICY chose. Before the first fork. */
export function useSharedSockets(): void {
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
}

/** The next event of `kind` from `worker`; undefined when it exits or is silent past the backstop. */
function nextEvent<K extends WorkerEvent['event']>(worker: Worker, kind: K): Promise<Extract<WorkerEvent, { event: K }> | undefined> {
  return new Promise((resolve) => {
    const done = (value: Extract<WorkerEvent, { event: K }> | undefined) => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      clearTimeout(timer);
      resolve(value);
    };
    const onMessage = (message: unknown) => {
      if (isWorkerEvent(message) && message.event === kind) done(message as Extract<WorkerEvent, { event: K }>);
    };
    const onExit = () => done(undefined);
    const timer = setTimeout(() => done(undefined), REPLY_BACKSTOP_MS);
    worker.on('message', onMessage);
    worker.on('exit', onExit);
  });
}

function reloadCommand(setup: WorkerSetup): Command {
  return { cmd: 'reload', configBase64: setup.configBytes.toString('base64'), source: setup.source, passphrases: setup.passphrases };
}

function ignoreSendError(): void {
  // See WorkerPool#send.
}

export class WorkerPool {
  readonly #members = new Map<number, Member>();
  #setup: WorkerSetup;
  #stopping = false;
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  /** The listening addresses workers may have bound (set from the configuration before they ask). */
  granted: ReadonlySet<BindKey> = new Set();
  /** The primary's copy of the workers' sessions (set from the configuration; a reload replaces it). */
  sessions = new SessionCopies(null);

  constructor(readonly log: LogWriter, setup: WorkerSetup) {
    this.#setup = setup;
    cluster.on('exit', this.#onExit);
  }

  /** The configuration new workers (replacements) start with, after a successful reload. */
  set setup(setup: WorkerSetup) {
    this.#setup = setup;
  }

  /**
   * Starts `count` workers at once; the first shows its start-up lines except `shown`.
   * Rejects with the first failure's lines (StartupError); the others are stopped then.
   */
  async startAll(count: number, shown: readonly string[]): Promise<void> {
    const starting = Array.from({ length: count }, (_, i) => this.#start(i === 0, shown));
    const results = await Promise.allSettled(starting);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const result of results) if (result.status === 'fulfilled') this.#started(result.value);
  }

  /** Forks one worker; resolves when it serves, rejects with its start-up error lines. */
  #start(replay: boolean, shown: readonly string[]): Promise<Member> {
    const worker = cluster.fork();
    const sessions = new Batches((list) => this.#send(worker, { cmd: 'sessions', list }));
    const member: Member = { worker, pid: worker.process.pid ?? 0, startedAt: Date.now(), ready: false, sessions };
    this.#members.set(worker.id, member);
    const name = `Worker ${worker.id} (pid ${member.pid})`;
    guardBinds(worker, () => this.granted, (key) => {
      this.log.write(3, 'ui', `${name} asked to bind ${key}, which the configuration does not name: killed`);
      worker.process.kill('SIGKILL');
    });
    worker.on('message', (message: unknown) => {
      if (!isWorkerEvent(message)) this.log.write(4, 'ui', `${name} sent a message of no known shape: dropped`);
      else if (message.event === 'sessions') this.#shareSessions(member, name, message.list);
    });
    return new Promise((resolve, reject) => {
      const done = () => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      const onMessage = (message: unknown) => {
        if (!isWorkerEvent(message)) return;
        if (message.event === 'waiting') {
          const setup = this.#setup;
          this.#send(worker, {
            cmd: 'start', configBase64: setup.configBytes.toString('base64'), source: setup.source,
            ticketSecretBase64: setup.ticketSecret.toString('base64'), replay, shown, daemonized: setup.daemonized,
            passphrases: setup.passphrases,
          });
        } else if (message.event === 'ready') {
          done();
          member.ready = true;
          for (const session of this.sessions.all()) sessions.add(session);
          resolve(member);
        } else if (message.event === 'failed') {
          done();
          reject(new StartupError(message.lines));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        done();
        reject(new StartupError([`Worker ${worker.id} (pid ${member.pid}) ${exitText(code, signal)} before it was ready`]));
      };
      worker.on('message', onMessage);
      worker.on('exit', onExit);
    });
  }

  /** Keeps a worker's sessions and relays them to the other serving workers. */
  #shareSessions(from: Member, name: string, list: readonly SharedSession[]): void {
    const others = this.#ready().filter((member) => member !== from);
    for (const session of list) {
      if (!this.sessions.store(session)) {
        this.log.write(4, 'ui', `${name} sent a session of ${JSON.stringify(session.service)}, a service without a session cache: dropped`);
        continue;
      }
      for (const member of others) member.sessions.add(session);
      this.log.write(7, 'ui', `${name} shared a session of service [${session.service}] with ${others.length} worker(s)`);
    }
  }

  #started(member: Member): void {
    this.log.write(5, 'ui', `Worker ${member.worker.id} (pid ${member.pid}) started`);
  }

  /**
   * Sends a command; a worker that is exiting (its channel already closed: `pkill`, or
   * systemd's KillMode=control-group, sends TERM to every process at once) cannot take it,
   * and its exit is handled on its own. The callback keeps a failed send off 'error'.
   */
  #send(worker: Worker, command: Command): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(command, ignoreSendError);
    } catch {
      // The channel closed in between: as above.
    }
  }

  /** A serving worker died: say so and start another (after a pause if it died young). */
  readonly #onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    const member = this.#members.get(worker.id);
    this.#members.delete(worker.id);
    if (!member || !member.ready || this.#stopping) return;
    this.log.write(3, 'ui', `Worker ${worker.id} (pid ${member.pid}) ${exitText(code, signal)}; restarting`);
    this.#replace(Date.now() - member.startedAt < QUICK_DEATH_MS ? QUICK_DEATH_MS : 0);
  };

  #replace(delayMs: number): void {
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (this.#stopping) return;
      this.#start(false, []).then(
        (member) => this.#started(member),
        (error: StartupError) => {
          for (const line of error.messages ?? [String(error)]) this.log.write(3, 'ui', line);
          this.log.write(3, 'ui', `Starting a worker failed; trying again in ${QUICK_DEATH_MS / 1000} second`);
          this.#replace(QUICK_DEATH_MS);
        },
      );
    }, delayMs);
    this.#restartTimers.add(timer);
  }

  #ready(): Member[] {
    return [...this.#members.values()].filter((m) => m.ready);
  }

  /** Sends a command to every serving worker. */
  broadcast(command: Command): void {
    for (const member of this.#ready()) this.#send(member.worker, command);
  }

  /**
   * Reloads every serving worker with this configuration text. Resolves with the failures,
   * each worker's error lines (empty when all succeeded), and the workers that did reload.
   */
  async reload(setup: WorkerSetup): Promise<{ failures: string[][]; reloaded: Worker[] }> {
    const members = this.#ready();
    const answers = await Promise.all(members.map((m) => {
      const answer = nextEvent(m.worker, 'reloaded');
      this.#send(m.worker, reloadCommand(setup));
      return answer;
    }));
    const failures: string[][] = [];
    const reloaded: Worker[] = [];
    answers.forEach((answer, i) => {
      const id = members[i].worker.id;
      if (answer === undefined) failures.push([`Worker ${id} did not answer the reload`]);
      else if (answer.failure) failures.push(answer.failure.map((line) => `Worker ${id}: ${line}`));
      else reloaded.push(members[i].worker);
    });
    return { failures, reloaded };
  }

  /** Puts back the configuration on workers a partly failed reload had changed. */
  async revert(workers: readonly Worker[], setup: WorkerSetup): Promise<void> {
    await Promise.all(workers.map((worker) => {
      const answer = nextEvent(worker, 'reloaded');
      this.#send(worker, reloadCommand(setup));
      return answer;
    }));
  }

  /** Every worker's live connections (SIGUSR2). */
  async connections(): Promise<ActiveConnection[]> {
    const lists = await Promise.all(this.#ready().map((m) => {
      const answer = nextEvent(m.worker, 'connections');
      this.#send(m.worker, { cmd: 'listConnections' });
      return answer;
    }));
    return lists.flatMap((answer) => answer?.list ?? []);
  }

  /** Every serving worker's `stunnel_*` and process series (`metrics`); a worker that does not answer is left out. */
  async metrics(): Promise<MetricsJson[]> {
    const answers = await Promise.all(this.#ready().map((m) => {
      const answer = nextEvent(m.worker, 'metrics');
      this.#send(m.worker, { cmd: 'metrics' });
      return answer;
    }));
    return answers.flatMap((answer) => answer ? [answer.json as MetricsJson] : []);
  }

  /** Tells every worker to stop (tunnels dropped, as on TERM) and resolves when all have exited. */
  stop(): Promise<void> {
    return this.#end({ cmd: 'terminate' }, STOP_BACKSTOP_MS);
  }

  /** Tells every worker to drain for up to `seconds` and resolves when all have exited; `stop()` meanwhile ends it. */
  drain(seconds: number): Promise<void> {
    return this.#end({ cmd: 'drain', seconds }, seconds * 1000 + STOP_BACKSTOP_MS);
  }

  async #end(command: Command, backstopMs: number): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    const members = [...this.#members.values()];
    await Promise.all(members.map((member) => new Promise<void>((resolve) => {
      const { worker } = member;
      if (worker.isDead()) return resolve();
      const backstop = setTimeout(() => worker.process.kill('SIGKILL'), backstopMs);
      worker.once('exit', () => {
        clearTimeout(backstop);
        resolve();
      });
      // A worker still starting has no command handler yet: TERM ends it (its default action).
      if (member.ready) this.#send(worker, command);
      else worker.process.kill('SIGTERM');
    })));
    this.#members.clear();
    cluster.off('exit', this.#onExit);
  }
}
