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
import { DEFAULT_CONFIG_FILE, loadConfig, loadConfigText, readConfigDescriptor } from '../config/load';
import type { Config, ServiceConfig } from '../config/model';
import { Engine } from '../engine/engine';
import { Log } from '../log';
import { unlockKeys } from '../tls/context';
import { PassphraseBook, terminalAsker } from '../tls/passphrase';
import { daemonSecrets, daemonStatusPipe, spawnDaemon, type DaemonStatus } from './daemon';
import { StartupError } from '../errors';
import { configFailureLines, contextFailureLines } from './failures';
import { readOpenFilesLimit } from '../engine/limits';
import { limitLine } from './limits';
import { nativeAddon } from '../native';
import { confine } from './privileges';
import { startupBanner } from './banner';
import { WorkersPrimary } from './primary';
import { serveDaemon } from './serve';
import { SingleProcess } from './single';
import { printerFor, settingsFor, startup, type LinePrinter } from './startup';
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
  // Passphrases are asked for on an interactive start; the daemon child gets its parent's.
  const keys = status === null ? new PassphraseBook(terminalAsker()) : new PassphraseBook(null, daemonSecrets());
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
      // Read once into memory: the text is handed on (to a daemon child, to workers) from here.
      configBytes = readConfigDescriptor(fd);
      config = loadConfigText(decodeConfigBytes(configBytes), String(fd));
    } else {
      const file = request.configFile ?? DEFAULT_CONFIG_FILE;
      log.write(5, 'ui', `Reading configuration from file ${safeRealpath(file)}`);
      config = loadConfig({ file });
    }
  } catch (error) {
    return failedStart(error, log, print, status);
  }
  for (const notice of config.notices) log.write(notice.level, 'ui', notice.text);

  if (config.inetd !== null) return runInetd(config, config.inetd, log, print, status);
  if (config.global.foreground === 'no' && status === null) {
    const child = fd !== undefined && configBytes !== undefined ? { fd, bytes: configBytes } : undefined;
    try {
      // As stunnel, ask for passphrases while the terminal is still ours.
      unlockKeys(config.services, keys, (text) => log.write(3, 'ui', text));
    } catch (error) {
      return failedStart(new StartupError(contextFailureLines(error)), log, print, status);
    }
    return spawnDaemon({ config: child, printLine: print, secrets: keys.entries() });
  }
  const reloadSource = fd !== undefined ? String(fd) : config.file;
  const daemon = { config, reloadSource, log, print, status };
  if (config.global.workers > 1) {
    const text = configBytes ?? readFileSync(config.file);
    return serveDaemon(daemon, new WorkersPrimary(log, config, { configBytes: text, reloadSource, daemonized: status !== null }, keys));
  }
  return serveDaemon(daemon, new SingleProcess(log, config, keys));
}

/** A start that failed before serving: stunnel's lines (every kept line while the log is not open yet), exit code 1. */
function failedStart(error: unknown, log: Log, print: LinePrinter, status: DaemonStatus | null): number {
  for (const line of configFailureLines(error)) log.write(3, 'ui', line);
  for (const line of log.startupLines()) print(line);
  status?.close();
  return 1;
}

function safeRealpath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/**
 * stdin/stdout as one duplex: the inetd socket itself when fd 0 and fd 1 are that one socket;
 * else reads from fd 0 and writes to fd 1, whatever they are (two pipes, or the two socketpairs
 * a parent such as Node's or older Python's subprocess makes: replies must go to fd 1).
 */
function stdioDuplex(): Duplex {
  if (oneSocket(0, 1)) return new Socket({ fd: 0, readable: true, writable: true });
  return Duplex.from({ readable: createReadStream('', { fd: 0 }), writable: createWriteStream('', { fd: 1 }) });
}

/** Do both descriptors refer to the same socket (inetd's dup'ed connection)? */
function oneSocket(a: number, b: number): boolean {
  try {
    const [first, second] = [fstatSync(a), fstatSync(b)];
    return first.isSocket() && first.dev === second.dev && first.ino === second.ino;
  } catch {
    return false;
  }
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
  const ok = await startup(log, print, () => {
    log.openSyslog(settings);
    confine(config.global);
    log.open(settings);
    return Promise.resolve();
  });
  status?.close();
  if (!ok) return 1;
  await engine.serveOne(service, stdioDuplex());
  log.close();
  return 0;
}
