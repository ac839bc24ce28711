/**
 * @module process/primary
 * `workers = N` (N > 1): this process becomes the primary of N worker processes
 * (process/worker) that serve the listeners together, so TLS work spreads over N cores.
 *
 * The primary serves no connection. It checks the configuration (contexts built as root,
 * as a single process would, so a bad key fails the start before any worker runs), opens
 * its log, starts the workers and waits until each serves, writes the pid file with its
 * own pid, and then supervises: a worker that dies is logged and replaced; HUP, USR1, USR2
 * and TERM/INT/QUIT are carried out by all workers. It keeps root (when started as root)
 * because replacements must read the keys and the primary binds the sockets workers ask
 * for; chroot and the privilege drop happen in each worker. Files the configuration names
 * inside the chroot (`pid`, `output`) are opened by the primary at the same place from outside.
 */
import cluster from 'node:cluster';
import { chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { decodeConfigBytes } from '../config/lexer';
import { loadConfigText } from '../config/load';
import type { Config } from '../config/model';
import { Engine } from '../engine/engine';
import type { Log, LogSettings } from '../log';
import type { DaemonStatus } from './daemon';
import { configFailureLines } from './failures';
import { PidFile } from './pidfile';
import { readReloadSource, serveUntilTerminated, settingsFor, startup, type LinePrinter } from './startup';
import { newTicketSecret } from './ticketkeys';
import { useSharedSockets, WorkerPool } from './pool';

export interface PrimaryRequest {
  readonly config: Config;
  /** The configuration text as read at start-up: what the workers load. */
  readonly configBytes: Buffer;
  /** What SIGHUP reads again: the file name, or the descriptor number with `-fd`. */
  readonly reloadSource: string;
  readonly log: Log;
  readonly print: LinePrinter;
  readonly status: DaemonStatus | null;
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
 * Runs `open` (the primary opening or reopening its log file). A file it creates, as root,
 * is handed to the configured user, so the workers can open it after their privilege drop.
 */
function withLogFileForWorkers(config: Config, output: string | null, open: () => void): void {
  const created = output !== null && !existsSync(output);
  open();
  const { setuid, setgid } = config.global;
  if (created && output !== null && existsSync(output) && (setuid !== null || setgid !== null)) {
    chownSync(output, setuid ?? -1, setgid ?? -1);
  }
}

/** Runs the primary until a termination signal; resolves with the exit code. */
export async function runPrimary(request: PrimaryRequest): Promise<number> {
  const { log, print, status, reloadSource } = request;
  let config = request.config;
  let configBytes = request.configBytes;
  const count = config.global.workers;
  const stderr = config.global.foreground === 'yes';
  useSharedSockets();
  // Replacements start where the first workers did, even after the daemon's chdir('/').
  cluster.setupPrimary({ cwd: process.cwd() });
  const ticketSecret = newTicketSecret();
  const pool = new WorkerPool(log, { configBytes, source: config.file, ticketSecret, daemonized: status !== null });
  let pidFile: PidFile | null = null;

  const ok = await startup(log, print, async () => {
    log.openSyslog(settingsFor(config, stderr));
    new Engine(log).prepare(config);
    log.write(5, 'ui', 'Configuration successful');
    const shown = log.startupLines().map((line) => line.slice(4));
    const settings = primarySettings(config, stderr);
    withLogFileForWorkers(config, settings.output, () => log.open(settings));
    await pool.startAll(count, shown);
    if (status !== null) {
      process.chdir('/');
      log.daemonized();
    }
    if (config.global.pid !== null) {
      pidFile = new PidFile(outsideJail(config, config.global.pid));
      pidFile.create();
      log.write(7, 'ui', `Created pid file ${config.global.pid}`);
    }
  });
  if (!ok) {
    await pool.stop();
    (pidFile as PidFile | null)?.remove();
    log.close();
    status?.close();
    return 1;
  }

  const reload = async (): Promise<void> => {
    log.write(5, 'ui', `Reading configuration from file ${reloadSource}`);
    const failed = (lines: readonly string[]) => {
      for (const line of lines) log.write(3, 'ui', line);
      log.write(3, 'ui', 'Failed to reload the configuration file');
    };
    let next: Config;
    let nextBytes: Buffer;
    try {
      nextBytes = readReloadSource(reloadSource);
      next = loadConfigText(decodeConfigBytes(nextBytes), reloadSource);
      for (const notice of next.notices) log.write(notice.level, 'ui', notice.text);
      new Engine(log).prepare(next);
      const settings = primarySettings(next, stderr);
      withLogFileForWorkers(next, settings.output, () => log.reconfigure(settings));
    } catch (error) {
      return failed(configFailureLines(error));
    }
    const { failures, reloaded } = await pool.reload(nextBytes, reloadSource);
    if (failures.length > 0) {
      // Some workers could not take it: every worker goes back to the running configuration.
      await pool.revert(reloaded, configBytes, reloadSource);
      log.reconfigure(primarySettings(config, stderr));
      return failed(failures.flat());
    }
    config = next;
    configBytes = nextBytes;
    pool.setup = { configBytes, source: reloadSource, ticketSecret, daemonized: status !== null };
    if (next.global.workers !== count) {
      log.write(4, 'ui', `workers = ${next.global.workers} takes effect at the next start; ${count} workers keep running`);
    }
    log.write(5, 'ui', 'Configuration successful');
  };

  return serveUntilTerminated(log, status, pidFile, {
    reload,
    reopenLog: () => {
      withLogFileForWorkers(config, primarySettings(config, stderr).output, () => log.reopen());
      pool.broadcast({ cmd: 'reopenLog' });
    },
    activeConnections: () => pool.connections(),
  }, () => pool.stop());
}
