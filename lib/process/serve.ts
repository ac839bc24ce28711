/**
 * @module process/serve
 * A daemon's running phase, once process/lifecycle has started it; the same whether one
 * process serves (process/single) or a primary with workers (process/primary), both behind
 * the `Server` interface below. Read top-down:
 *
 *   serve        signals handled → `Accepting new connections` → the daemon parent and systemd
 *                told ready → wait for TERM/INT/QUIT → terminate → pid file removed → log
 *                closed → metrics endpoint closed → exit code 0
 *   reload       (SIGHUP) systemd told RELOADING → read again → check → switch, or keep what
 *                runs → systemd told READY; the metrics endpoint counts the outcome
 *   terminate    systemd told STOPPING → at once: the termination line, then stop; or with
 *                `TIMEOUTdrain`: draining (drainState, /healthz `503 draining`), `Draining N
 *                connection(s) for up to S s`, drain (a second signal ends it at once), then
 *                the termination line
 */
import { decodeConfigBytes } from '../config/lexer';
import { loadConfigText } from '../config/load';
import type { Config } from '../config/model';
import type { ActiveConnection } from '../engine/engine';
import type { MetricsEndpoint, MetricsJson } from '../metrics/endpoint';
import type { Log } from '../log';
import type { DaemonStatus } from './daemon';
import { configFailureLines, messagesOf } from './failures';
import type { PidFile } from './pidfile';
import { drainState } from './drain';
import { systemdNotifier, type Notifier } from './notify';
import { installSignalHandlers, terminationLine, type TerminationSignal } from './signals';
import { readReloadSource } from './startup';

/** What serves the connections: an engine in this process, or a pool of workers. */
export interface Server {
  /** Checks a configuration as its start would (every TLS context built, keys read); throws its error lines. */
  check(config: Config): void;
  /** Serves the configuration just checked: listening, confined, its log open. */
  start(config: Config): Promise<void>;
  /** The configuration's `pid` file as this process reaches it (and with whose rights). */
  pidFile(config: Config, pid: string): PidFile;
  /** Switches from `running` to `next` (read as `bytes`), checking it first; throws its error lines, `running` kept. */
  reload(next: Config, bytes: Buffer, running: Config): Promise<void>;
  /** SIGUSR1: the log file opened again (after a rotation). */
  reopenLog(config: Config): void;
  /** SIGUSR2: the connections being served. */
  activeConnections(): readonly ActiveConnection[] | Promise<readonly ActiveConnection[]>;
  /** Stops serving: listeners closed, tunnels dropped (as on TERM). */
  stop(): Promise<void>;
  /**
   * `TIMEOUTdrain`: listeners stop accepting at once (fenced, what the kernel queued accepted first:
   * engine/fence), tunnels given up to `seconds` to end; `stop()` meanwhile ends it.
   */
  drain(seconds: number): Promise<void>;
  /** The serving processes' `stunnel_*` series (`metrics`), one list per process; empty when not metered. */
  metrics(): Promise<MetricsJson[]>;
}

/** A daemon that has started: what its running phase works with. */
export interface Running {
  readonly server: Server;
  /** The configuration served now: a successful reload replaces it. */
  config: Config;
  /** What SIGHUP reads again: the file name, or the descriptor number with `-fd`. */
  readonly reloadSource: string;
  readonly log: Log;
  /** The daemon child's status pipe to its parent; null in the foreground. */
  readonly status: DaemonStatus | null;
  readonly pidFile: PidFile | null;
  readonly metrics: MetricsEndpoint | null;
}

/** TERM/INT/QUIT as they come: the first starts the shutdown, a second during a drain ends the drain at once. */
class Termination {
  readonly #server: Server;
  #first: TerminationSignal | null = null;
  #requested: (signal: TerminationSignal) => void = () => undefined;
  /** Resolves with the first signal. */
  readonly requested = new Promise<TerminationSignal>((resolve) => (this.#requested = resolve));
  /** Set once a drain has begun: a second signal then stops at once. */
  draining = false;
  /** The stop a second signal started during the drain. */
  forcedStop: Promise<void> | null = null;

  constructor(server: Server) {
    this.#server = server;
  }

  /** True from the first signal on. */
  get started(): boolean {
    return this.#first !== null;
  }

  signal(signal: TerminationSignal): void {
    if (this.#first === null) {
      this.#first = signal;
      this.#requested(signal);
    } else if (this.draining) {
      // A second signal during a drain: drop what is left now.
      this.forcedStop ??= this.#server.stop();
    }
  }
}

/** Serves until a termination signal and shuts down; resolves with the exit code. */
export async function serve(running: Running): Promise<number> {
  const { log, status, server } = running;
  const notifier = systemdNotifier(log);
  const termination = new Termination(server);
  const uninstall = installSignalHandlers(log, {
    reload: () => reload(running, notifier, termination),
    reopenLog: () => server.reopenLog(running.config),
    activeConnections: () => server.activeConnections(),
    terminate: (signal) => termination.signal(signal),
  });
  process.on('uncaughtException', (error) => {
    log.write(3, 'ui', `Internal error: ${error.stack ?? error.message}`);
    running.pidFile?.remove();
    // Worker processes follow: a worker whose primary is gone exits.
    process.exit(1);
  });
  log.write(6, 'ui', 'Accepting new connections');
  status?.ready();
  notifier.ready();

  const signal = await termination.requested;
  notifier.stopping();
  await terminate(running, signal, termination);
  uninstall();
  notifier.close();
  running.pidFile?.remove();
  log.close();
  await running.metrics?.close();
  return 0;
}

/**
 * SIGHUP. Once stopping (a drain under way), ignored: a reload would bind the listeners again.
 * Never throws: a configuration that fails is logged and the running one kept.
 */
async function reload(running: Running, notifier: Notifier, termination: Termination): Promise<void> {
  if (termination.started) return;
  notifier.reloading();
  try {
    await switchConfiguration(running);
  } finally {
    notifier.ready();
  }
}

/** Reads the configuration again (the name resolved at start-up), has the server check and switch to it. */
async function switchConfiguration(running: Running): Promise<void> {
  const { log, server, reloadSource, metrics } = running;
  log.write(5, 'ui', `Reading configuration from file ${reloadSource}`);
  try {
    const bytes = readReloadSource(reloadSource);
    const next = loadConfigText(decodeConfigBytes(bytes), reloadSource);
    for (const notice of next.notices) log.write(notice.level, 'ui', notice.text);
    await server.reload(next, bytes, running.config);
    if (!sameAddress(next.global.metrics, running.config.global.metrics)) {
      log.write(4, 'ui', 'metrics takes effect at the next start; the endpoint keeps running as started');
    }
    running.config = next;
  } catch (error) {
    for (const line of configFailureLines(error)) log.write(3, 'ui', line);
    log.write(3, 'ui', 'Failed to reload the configuration file');
    metrics?.reloaded(false);
    return;
  }
  log.write(5, 'ui', 'Configuration successful');
  metrics?.reloaded(true);
}

function sameAddress(a: Config['global']['metrics'], b: Config['global']['metrics']): boolean {
  return a?.host === b?.host && a?.port === b?.port;
}

/**
 * After the first termination signal: the server stops at once (the termination line first),
 * or with `TIMEOUTdrain` (of the configuration served now) drains, the termination line at its end.
 */
async function terminate(running: Running, signal: TerminationSignal, termination: Termination): Promise<void> {
  const { log, server } = running;
  const line = terminationLine(signal);
  const seconds = running.config.global.drainTimeout;
  const failed = (error: unknown) => log.write(3, 'ui', `Shutdown: ${messagesOf(error)[0]}`);
  if (seconds > 0) {
    termination.draining = true;
    drainState.start();
    // Health checks answer `503 draining` from the drain's first moment.
    running.metrics?.setDraining(true);
    const count = (await server.activeConnections()).length;
    log.write(5, 'ui', `Draining ${count} connection(s) for up to ${seconds} s`);
    await server.drain(seconds).catch(failed);
    if (termination.forcedStop) await termination.forcedStop;
    log.write(line.level, 'ui', line.text);
  } else {
    log.write(line.level, 'ui', line.text);
    await server.stop().catch(failed);
  }
}
