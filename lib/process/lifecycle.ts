/**
 * @module process/lifecycle
 * The start-up sequence for a normal run (not -test, not the info flags), stunnel's order:
 * configuration → log (syslog connected) → TLS contexts (keys read as root) → bind → chroot
 * → setgroups/setgid/setuid → `output` log opened (as the dropped user) → pid file → ready,
 * then the signals until shutdown. `foreground = no` daemonizes (process/daemon) once the
 * configuration is known to be valid; a file without sections runs inetd mode.
 */
import cluster from 'node:cluster';
import { createReadStream, createWriteStream, fstatSync, readFileSync, realpathSync } from 'node:fs';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { decodeConfigBytes } from '../config/lexer';
import { loadConfig, loadConfigText } from '../config/load';
import type { Config, ServiceConfig } from '../config/model';
import { Engine, type Prepared } from '../engine/engine';
import { Log, type LogSettings } from '../log';
import { daemonStatusPipe, rewindableDescriptor, spawnDaemon, type DaemonStatus } from './daemon';
import { configFailureLines } from './failures';
import { limitLine, readOpenFilesLimit } from './limits';
import { nativeAddon } from './native';
import { PidFile } from './pidfile';
import { dropPrivileges, enterChroot } from './privileges';
import { startupBanner } from './banner';
import { runPrimary } from './primary';
import { printerFor, readReloadSource, serveUntilTerminated, settingsFor, startup, type LinePrinter } from './startup';
import { runWorker } from './worker';

export interface RunRequest {
  /** The configuration file as given on the command line (realpath'd by the loader). */
  readonly configFile?: string;
  /** `-fd N`: read the configuration from this descriptor. */
  readonly configFd?: number;
}

/** Everything that may be needed later is loaded now: after a chroot, `require` finds nothing. */
function preloadForChroot(): void {
  nativeAddon();
}

export async function run(request: RunRequest): Promise<number> {
  // A worker of `workers = N` runs the same command line; the primary tells it what to do.
  if (cluster.isWorker) return runWorker();
  const status = daemonStatusPipe();
  const print = printerFor(status);
  const log = new Log();
  preloadForChroot();
  for (const line of startupBanner()) log.write(line.level, 'ui', line.text);
  const limit = limitLine(readOpenFilesLimit());
  log.write(limit.level, 'ui', limit.text);

  const fd = request.configFd;
  let configBytes: Buffer | undefined;
  let config: Config;
  try {
    if (fd !== undefined) {
      log.write(5, 'ui', `Reading configuration from descriptor ${fd}`);
      // The text may be handed on (to a daemon child, to workers): keep it readable again behind fd.
      configBytes = rewindableDescriptor(fd);
      config = loadConfig({ fd });
    } else {
      const file = request.configFile ?? '/etc/stunnel/stunnel.conf';
      log.write(5, 'ui', `Reading configuration from file ${safeRealpath(file)}`);
      config = loadConfig({ file });
    }
  } catch (error) {
    for (const line of configFailureLines(error)) log.write(3, 'ui', line);
    for (const line of log.startupLines()) print(line);
    status?.close();
    return 1;
  }
  for (const notice of config.notices) log.write(notice.level, 'ui', notice.text);

  if (config.inetd !== null) return runInetd(config, config.inetd, log, print, status);
  if (config.global.foreground === 'no' && status === null) {
    const child = fd !== undefined && configBytes !== undefined ? { fd, bytes: configBytes } : undefined;
    return spawnDaemon({ config: child, printLine: print });
  }
  const reloadSource = fd !== undefined ? String(fd) : config.file;
  if (config.global.workers > 1 && workersCanServe(config, log)) {
    const text = configBytes ?? readFileSync(config.file);
    return runPrimary({ config, configBytes: text, reloadSource, log, print, status });
  }
  return runDaemon(config, reloadSource, log, print, status);
}

/**
 * Worker processes cannot share a Unix-socket `accept` yet: each worker's listener removes
 * a stale socket file before binding, which removes the one the primary bound for the
 * others. Such a configuration runs as one process, and says so.
 */
function workersCanServe(config: Config, log: Log): boolean {
  const unix = config.services.find((s) => s.accept.some((a) => a.kind === 'unix'));
  if (!unix) return true;
  log.write(4, 'ui', `workers = ${config.global.workers} is not supported with a Unix socket accept (service [${unix.name}]): running one process`);
  return false;
}

function safeRealpath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** The part of start-up shared by daemon and inetd mode, after the sockets are bound. */
function confineAndOpenLog(config: Config, log: Log, settings: LogSettings): void {
  if (config.global.chroot !== null) enterChroot(config.global.chroot);
  dropPrivileges({ uid: config.global.setuid, gid: config.global.setgid });
  log.open(settings);
}

async function runDaemon(
  initial: Config, reloadSource: string, log: Log, print: LinePrinter, status: DaemonStatus | null,
): Promise<number> {
  let config = initial;
  const stderr = config.global.foreground === 'yes';
  const engine = new Engine(log);
  let pidFile: PidFile | null = null;
  const ok = await startup(log, print, async () => {
    log.openSyslog(settingsFor(config, stderr));
    const prepared = engine.prepare(config);
    log.write(5, 'ui', 'Configuration successful');
    await engine.start(prepared);
    confineAndOpenLog(config, log, settingsFor(config, stderr));
    if (status !== null) {
      // What daemon(3) does after the fork: cwd `/`, so a later reload resolves paths from there.
      process.chdir('/');
      log.daemonized();
    }
    if (config.global.pid !== null) {
      pidFile = new PidFile(config.global.pid);
      pidFile.create();
      log.write(7, 'ui', `Created pid file ${config.global.pid}`);
    }
  });
  if (!ok) {
    await engine.close().catch(() => undefined);
    (pidFile as PidFile | null)?.remove();
    log.close();
    status?.close();
    return 1;
  }

  const reload = async (): Promise<void> => {
    log.write(5, 'ui', `Reading configuration from file ${reloadSource}`);
    const failed = (error: unknown) => {
      for (const line of configFailureLines(error)) log.write(3, 'ui', line);
      log.write(3, 'ui', 'Failed to reload the configuration file');
    };
    let next: Config;
    let prepared: Prepared;
    try {
      next = loadConfigText(decodeConfigBytes(readReloadSource(reloadSource)), reloadSource);
      for (const notice of next.notices) log.write(notice.level, 'ui', notice.text);
      prepared = engine.prepare(next);
      log.reconfigure(settingsFor(next, stderr));
    } catch (error) {
      return failed(error);
    }
    try {
      await engine.reload(prepared);
    } catch (error) {
      return failed(error);
    }
    config = next;
    log.write(5, 'ui', 'Configuration successful');
  };
  return serveUntilTerminated(log, status, pidFile, {
    reload,
    reopenLog: () => log.reopen(),
    activeConnections: () => engine.activeConnections(),
  }, () => engine.close());
}

/** stdin/stdout as one duplex: the inetd socket itself, or two pipes (tests, `socat EXEC:`). */
function stdioDuplex(): Duplex {
  try {
    if (fstatSync(0).isSocket()) return new Socket({ fd: 0, readable: true, writable: true });
  } catch {
    // Not a socket: fall through to the two-stream form.
  }
  return Duplex.from({ readable: createReadStream('', { fd: 0 }), writable: createWriteStream('', { fd: 1 }) });
}

/**
 * Inetd mode: the connection is fd 0/1. No daemonizing, no pid file, no signal handlers
 * (HUP kills it, as stunnel); exit 0 when the connection ends.
 */
async function runInetd(
  config: Config, service: ServiceConfig, log: Log, print: LinePrinter, status: DaemonStatus | null,
): Promise<number> {
  const engine = new Engine(log);
  const settings = settingsFor(config, config.global.foreground === 'yes');
  const ok = await startup(log, print, async () => {
    log.openSyslog(settings);
    confineAndOpenLog(config, log, settings);
  });
  status?.close();
  if (!ok) return 1;
  await engine.serveOne(service, stdioDuplex());
  log.close();
  return 0;
}
