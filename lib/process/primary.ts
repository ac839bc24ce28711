/**
 * @module process/primary
 * `workers = N` (N > 1): this process becomes the primary of N worker processes
 * (process/worker) that serve the listeners together, so TLS work spreads over N cores.
 *
 * The primary serves no connection. It checks the configuration (contexts built as root,
 * as a single process would, so a bad key fails the start before any worker runs), opens
 * its log, starts the workers and waits until each serves, writes the pid file with its
 * own pid, and then supervises: a worker that dies is logged and replaced; HUP, USR1, USR2
 * and TERM/INT/QUIT are carried out by all workers. It keeps a copy of the sessions the
 * workers make, for session-id resumption on any worker (process/sessionshare). It keeps
 * root (when started as root) because replacements must read the keys and the primary binds the sockets workers ask
 * for (those of the configuration only: process/bindguard); chroot and the privilege drop happen in each worker. Files the configuration names
 * inside the chroot (`pid`, `output`) are opened by the primary at the same place from outside,
 * and always with the rights of the `setuid`/`setgid` user (process/privileges `withIdentity`):
 * as root it would follow whatever symlink that user planted in its own directories.
 */
import cluster from 'node:cluster';
import { join } from 'node:path';
import type { Config } from '../config/model';
import { Engine } from '../engine/engine';
import { removeStaleSocketFiles } from '../engine/listener';
import { StartupError } from '../errors';
import type { Log, LogSettings } from '../log';
import type { MetricsJson } from '../metrics/endpoint';
import type { Server } from './serve';
import { grantedBinds } from './bindguard';
import { PidFile } from './pidfile';
import { identityOf, withIdentity } from './privileges';
import { settingsFor } from './startup';
import { SessionCopies } from './sessionshare';
import { newTicketSecret } from './ticketkeys';
import type { PassphraseBook } from '../tls/passphrase';
import { useSharedSockets, WorkerPool, type WorkerSetup } from './pool';

export interface PrimarySetup {
  /** The configuration text as read at start-up: what the workers load. */
  readonly configBytes: Buffer;
  /** What SIGHUP reads again (and what the workers are told they load). */
  readonly reloadSource: string;
  /** True in the daemon child: workers chdir to `/` as it does. */
  readonly daemonized: boolean;
}

/** A path the configuration means inside the chroot, seen from outside it. */
function outsideJail(config: Config, path: string): string {
  return config.global.chroot === null ? path : join(config.global.chroot, path);
}

/** The primary's sinks: the workers' `output` file, reached from outside the chroot. */
function primarySettings(config: Config, stderr: boolean): LogSettings {
  const settings = settingsFor(config, stderr);
  return settings.output === null ? settings : { ...settings, output: outsideJail(config, settings.output) };
}

/**
 * Runs `open` (the primary opening or reopening its log file) with the rights of the user the
 * workers run as: a file it creates is theirs, and `Cannot open log file` where they could not.
 */
function asWorkerUser(config: Config, open: () => void): void {
  withIdentity(identityOf(config.global), open);
}

/** The primary of `workers = N`: serves through its pool of workers. */
export class WorkersPrimary implements Server {
  readonly #log: Log;
  readonly #pool: WorkerPool;
  readonly #setup: PrimarySetup;
  readonly #ticketSecret = newTicketSecret();
  /** The worker count of the start (a reload cannot change it). */
  readonly #count: number;
  readonly #stderr: boolean;
  /** Unlocks encrypted keys; what it learns goes to the workers with each start and reload. */
  readonly #keys: PassphraseBook;
  #configBytes: Buffer;

  constructor(log: Log, initial: Config, setup: PrimarySetup, keys: PassphraseBook) {
    this.#log = log;
    this.#keys = keys;
    this.#setup = setup;
    this.#count = initial.global.workers;
    this.#stderr = initial.global.foreground === 'yes';
    this.#configBytes = setup.configBytes;
    useSharedSockets();
    // Replacements start where the first workers did, even after the daemon's chdir('/').
    cluster.setupPrimary({ cwd: process.cwd() });
    this.#pool = new WorkerPool(log, this.#workerSetup());
  }

  /** What workers start from: the configuration `configBytes` (by default the running one). */
  #workerSetup(configBytes = this.#configBytes): WorkerSetup {
    const { reloadSource, daemonized } = this.#setup;
    return {
      configBytes, source: reloadSource, ticketSecret: this.#ticketSecret, daemonized, passphrases: this.#keys.entries(),
    };
  }

  /** The primary builds the contexts too (and drops them): a bad key fails before any worker runs. */
  check(config: Config): void {
    new Engine(this.#log, this.#keys).prepare(config);
  }

  async start(config: Config): Promise<void> {
    const shown = this.#log.startupLines().map((line) => line.slice(4));
    const settings = primarySettings(config, this.#stderr);
    asWorkerUser(config, () => this.#log.open(settings));
    removeStaleSocketFiles(config, null);
    this.#pool.granted = await grantedBinds(config);
    this.#pool.setup = this.#workerSetup();
    this.#pool.sessions = new SessionCopies(config);
    await this.#pool.startAll(this.#count, shown);
  }

  pidFile(config: Config, pid: string): PidFile {
    return new PidFile(outsideJail(config, pid), process.pid, identityOf(config.global));
  }

  async reload(next: Config, bytes: Buffer, running: Config): Promise<void> {
    this.check(next);
    const settings = primarySettings(next, this.#stderr);
    asWorkerUser(next, () => this.#log.reconfigure(settings));
    removeStaleSocketFiles(next, running);
    const [before, after] = [this.#pool.granted, await grantedBinds(next)];
    this.#pool.granted = new Set([...before, ...after]);
    const { failures, reloaded } = await this.#pool.reload(this.#workerSetup(bytes));
    if (failures.length > 0) {
      // Some workers could not take it: every worker goes back to the running configuration.
      await this.#pool.revert(reloaded, this.#workerSetup());
      this.#pool.granted = before;
      asWorkerUser(running, () => this.#log.reconfigure(primarySettings(running, this.#stderr)));
      throw new StartupError(failures.flat());
    }
    this.#configBytes = bytes;
    this.#pool.granted = after;
    this.#pool.setup = this.#workerSetup();
    // The workers rebuilt their caches with the contexts: the copy starts over too.
    this.#pool.sessions = new SessionCopies(next);
    if (next.global.workers !== this.#count) {
      this.#log.write(4, 'ui', `workers = ${next.global.workers} takes effect at the next start; ${this.#count} workers keep running`);
    }
  }

  reopenLog(config: Config): void {
    asWorkerUser(config, () => this.#log.reopen());
    this.#pool.broadcast({ cmd: 'reopenLog' });
  }

  activeConnections() {
    return this.#pool.connections();
  }

  stop(): Promise<void> {
    return this.#pool.stop();
  }

  metrics(): Promise<MetricsJson[]> {
    return this.#pool.metrics();
  }

  drain(seconds: number): Promise<void> {
    return this.#pool.drain(seconds);
  }
}
