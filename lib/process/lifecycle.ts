/**
 * @module process/lifecycle
 * The start-up sequence for a normal run (not -test, not the info flags), stunnel's order:
 * configuration → log (syslog connected) → TLS contexts (keys read as root) → bind → chroot
 * → setgroups/setgid/setuid → `output` log opened (as the dropped user) → pid file → ready,
 * then the signals until shutdown. `foreground = no` daemonizes (process/daemon) once the
 * configuration is known to be valid; a file without sections runs inetd mode.
 */
import { createReadStream, createWriteStream, fstatSync, readFileSync, realpathSync } from 'node:fs';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { decodeConfigBytes } from '../config/lexer';
import { loadConfig, loadConfigText } from '../config/load';
import type { Config, ServiceConfig } from '../config/model';
import { Engine, type Prepared } from '../engine/engine';
import { ConfigError } from '../errors';
import { Log, logSettingsFrom, type LogSettings } from '../log';
import { daemonStatusPipe, rewindableDescriptor, spawnDaemon, type DaemonStatus } from './daemon';
import { limitLine, readOpenFilesLimit } from './limits';
import { nativeAddon } from './native';
import { PidFile } from './pidfile';
import { dropPrivileges, enterChroot } from './privileges';
import { installSignalHandlers, type TerminationSignal } from './signals';
import { startupBanner } from './banner';

export interface RunRequest {
  /** The configuration file as given on the command line (realpath'd by the loader). */
  readonly configFile?: string;
  /** `-fd N`: read the configuration from this descriptor. */
  readonly configFd?: number;
}

/** The error's lines in stunnel's shape (ConfigError/StartupError carry them; anything else is one line). */
function messagesOf(error: unknown): readonly string[] {
  const messages = (error as { messages?: readonly string[] } | null)?.messages;
  if (Array.isArray(messages) && messages.length > 0) return messages;
  return [error instanceof Error ? error.message : String(error)];
}

/** stunnel closes a failed parse with `Configuration failed`, but not a file it could not open. */
function configFailureLines(error: unknown): readonly string[] {
  const messages = messagesOf(error);
  const unopened = /^(Invalid configuration file name|Cannot open configuration file)/.test(messages[0]);
  return error instanceof ConfigError && !unopened ? [...messages, 'Configuration failed'] : messages;
}

/** Where start-up lines end up: our stderr, or the daemon parent's through the status pipe. */
type LinePrinter = (text: string) => void;

function printerFor(status: DaemonStatus | null): LinePrinter {
  return status ? (text) => status.line(text) : (text) => process.stderr.write(text + '\n');
}

/** Everything that may be needed later is loaded now: after a chroot, `require` finds nothing. */
function preloadForChroot(): void {
  nativeAddon();
}

export async function run(request: RunRequest): Promise<number> {
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
      // The parent may hand the text on to a daemon child: keep it readable again behind fd.
      if (status === null) configBytes = rewindableDescriptor(fd);
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
  return runDaemon(config, reloadSource, log, print, status);
}

/**
 * A reload opens the name resolved at start-up as it is (no second realpath), from the
 * daemon's cwd `/` and inside the chroot if there is one: stunnel's `Cannot open configuration file`.
 */
function readReloadSource(source: string): Buffer {
  try {
    return readFileSync(source);
  } catch {
    throw new ConfigError(['Cannot open configuration file', 'Configuration failed']);
  }
}

function safeRealpath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/**
 * Runs `steps` and reports a failure as stunnel does: before the log is open, every line
 * kept so far (debug included) on stderr as `[c] text`; after, the error lines logged and
 * printed as `[!] text`.
 */
async function startup(log: Log, print: LinePrinter, steps: () => Promise<void>): Promise<boolean> {
  try {
    await steps();
    return true;
  } catch (error) {
    const messages = messagesOf(error);
    // The engine logs some failures before throwing them (a bind error at LOG5): don't repeat those.
    const logged = new Set(log.startupLines().map((line) => line.slice(4)));
    for (const line of messages) if (!logged.has(line)) log.write(3, 'ui', line);
    const lines = log.buffering ? log.startupLines() : messages.map((m) => `[!] ${m}`);
    for (const line of lines) print(line);
    return false;
  }
}

/** The sinks, keeping the stderr choice of the start (`foreground` is not re-applied on reload). */
function settingsFor(config: Config, stderr: boolean): LogSettings {
  return { ...logSettingsFrom(config), stderr };
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

  let terminated: (signal: TerminationSignal) => void = () => undefined;
  const termination = new Promise<TerminationSignal>((resolve) => (terminated = resolve));
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
  const uninstall = installSignalHandlers(log, {
    reload,
    reopenLog: () => log.reopen(),
    activeConnections: () => engine.activeConnections(),
    terminate: (signal) => terminated(signal),
  });
  process.on('uncaughtException', (error) => {
    log.write(3, 'ui', `Internal error: ${error.stack ?? error.message}`);
    (pidFile as PidFile | null)?.remove();
    process.exit(1);
  });
  log.write(6, 'ui', 'Accepting new connections');
  status?.ready();

  await termination;
  await engine.close().catch((error) => log.write(3, 'ui', `Shutdown: ${(error as Error).message}`));
  uninstall();
  (pidFile as PidFile | null)?.remove();
  log.close();
  return 0;
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
