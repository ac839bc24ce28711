/**
 * @module process/lifecycle
 * A normal run (not -test, not the info flags) from the command line to its exit code, in
 * stunnel's order, all in `run()`: each step a call into the module that owns it. A file
 * without sections runs inetd mode instead (`runInetd`, at the end of this file).
 */
import cluster from 'node:cluster';
import { createReadStream, createWriteStream, fstatSync, readFileSync, realpathSync } from 'node:fs';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { decodeConfigBytes } from '../config/lexer';
import { DEFAULT_CONFIG_FILE, loadConfig, loadConfigText, readConfigDescriptor } from '../config/load';
import type { Config, ServiceConfig } from '../config/model';
import { Engine } from '../engine/engine';
import { errnoText } from '../errno';
import { Log } from '../log';
import { MetricsEndpoint } from '../metrics/endpoint';
import { unlockKeys } from '../tls/context';
import { PassphraseBook, terminalAsker } from '../tls/passphrase';
import { daemonSecrets, daemonStatusPipe, spawnDaemon, type DaemonStatus } from './daemon';
import { StartupError } from '../errors';
import { configFailureLines, contextFailureLines } from './failures';
import { readOpenFilesLimit } from '../engine/limits';
import { limitLine } from './limits';
import { nativeAddon } from '../native';
import type { PidFile } from './pidfile';
import { confine } from './privileges';
import { startupBanner } from './banner';
import { WorkersPrimary } from './primary';
import { serve, type Server } from './serve';
import { SingleProcess } from './single';
import { printerFor, settingsFor, startup, type LinePrinter } from './startup';
import { holdSignals } from './signals';
import { runWorker } from './worker';

export interface RunRequest {
  /** The configuration file as given on the command line (realpath'd by the loader). */
  readonly configFile?: string;
  /** `-fd N`: read the configuration from this descriptor. */
  readonly configFd?: number;
}

/**
 * The whole run, in order:
 *
 *  1. banner and the descriptor limit, into the log (kept in memory until it is open)
 *  2. configuration read (file, or `-fd N` into memory) → its notices
 *  3. `foreground = no` in the process started from the command line: passphrases asked for on
 *     the terminal, then detach (process/daemon): the parent starts a detached copy of itself,
 *     which runs this sequence again (1, 2, then 4–10: it is the daemon child), and exits with
 *     what the child writes on the status pipe: 0 at its `ready` (step 10), or 1 after its
 *     error lines
 *  4. the Server: one process (process/single), or a primary of `workers = N` (process/primary)
 *  5. syslog connected; every TLS context built (keys read as root): `Configuration successful`
 *  6. the `metrics` endpoint bound (before the privilege drop)
 *  7. server.start: bind → chroot → setgroups/setgid/setuid → `output` log opened
 *  8. in the daemon child: cwd `/`, main-thread lines `[main]`
 *  9. pid file
 * 10. serve (process/serve): ready, then reloads and signals until terminated, then shut down
 *
 * A start that fails at 5–9 is undone (server stopped, endpoint closed, pid file removed) and
 * reported as stunnel does (process/startup), exit 1. Where the two Servers differ:
 * - 5: the single process keeps the contexts it built for step 7; the primary drops them (it
 *   builds them only so that a bad key fails before any worker runs).
 * - 7: the single process binds, then confines itself, then opens `output` as the dropped user.
 *   The primary opens its log as the workers' user from outside the chroot, starts the workers
 *   and waits until each serves; each worker (process/worker) builds its contexts, binds
 *   through the primary, confines itself and opens its log; the primary keeps root, to start
 *   replacements that read the keys.
 * - 9: the single process writes the pid file already as the dropped user; the primary writes
 *   its own pid as the workers' user, from outside the chroot.
 */
export async function run(request: RunRequest): Promise<number> {
  // A worker of `workers = N` runs the same command line; the primary tells it what to do.
  if (cluster.isWorker) return runWorker();
  const status = daemonStatusPipe();
  // Passphrases are asked for on an interactive start; the daemon child gets its parent's.
  const keys = status === null ? new PassphraseBook(terminalAsker()) : new PassphraseBook(null, daemonSecrets());
  const print = printerFor(status);
  const log = new Log();
  preloadForChroot();

  // 1. Banner and limit.
  for (const line of startupBanner()) log.write(line.level, 'ui', line.text);
  const limit = limitLine(readOpenFilesLimit());
  log.write(limit.level, 'ui', limit.text);

  // 2. Configuration.
  let loaded: LoadedConfig;
  try {
    loaded = readConfiguration(request, log);
  } catch (error) {
    return failedStart(error, log, print, status);
  }
  const { config, bytes } = loaded;
  for (const notice of config.notices) log.write(notice.level, 'ui', notice.text);
  if (config.inetd !== null) return runInetd(config, config.inetd, log, print, status);

  // 3. Detach.
  if (config.global.foreground === 'no' && status === null) {
    try {
      // As stunnel, ask for passphrases while the terminal is still ours.
      unlockKeys(config.services, keys, (text) => log.write(3, 'ui', text));
    } catch (error) {
      return failedStart(new StartupError(contextFailureLines(error)), log, print, status);
    }
    const child = request.configFd !== undefined && bytes !== undefined ? { fd: request.configFd, bytes } : undefined;
    return spawnDaemon({ config: child, printLine: print, secrets: keys.entries() });
  }

  // From here on a HUP/USR1/USR2 waits for step 10 instead of killing the process (process/signals).
  holdSignals();

  // 4. The Server.
  const reloadSource = request.configFd !== undefined ? String(request.configFd) : config.file;
  const server: Server = config.global.workers > 1
    ? new WorkersPrimary(log, config, { configBytes: bytes ?? readFileSync(config.file), reloadSource, daemonized: status !== null }, keys)
    : new SingleProcess(log, config, keys);

  let metrics: MetricsEndpoint | null = null;
  let pidFile: PidFile | null = null;
  const started = await startup(log, print, async () => {
    // 5. Syslog, TLS contexts.
    log.openSyslog(settingsFor(config, config.global.foreground === 'yes'));
    checkContexts(server, config);
    log.write(5, 'ui', 'Configuration successful');
    // 6. Metrics endpoint.
    metrics = await openMetrics(config, server, log);
    // 7. Bind, confine, log file.
    await server.start(config);
    // 8. What daemon(3) does after the fork: cwd `/`, so a later reload resolves paths from there.
    if (status !== null) {
      process.chdir('/');
      log.daemonized();
    }
    // 9. Pid file.
    pidFile = createPidFile(server, config, log);
  });
  if (!started) {
    await server.stop().catch(() => undefined);
    await (metrics as MetricsEndpoint | null)?.close();
    (pidFile as PidFile | null)?.remove();
    log.close();
    status?.close();
    return 1;
  }

  // 10. Serve until terminated.
  return serve({ server, config, reloadSource, log, status, pidFile, metrics });
}

/** Everything that may be needed later is loaded now: after a chroot, `require` finds nothing. */
function preloadForChroot(): void {
  nativeAddon();
}

interface LoadedConfig {
  readonly config: Config;
  /** With `-fd N`: the text as read (handed on to a daemon child, to workers). */
  readonly bytes?: Buffer;
}

/** Step 2: `Reading configuration from …`, then the configuration loaded; throws its error. */
function readConfiguration(request: RunRequest, log: Log): LoadedConfig {
  const fd = request.configFd;
  if (fd !== undefined) {
    log.write(5, 'ui', `Reading configuration from descriptor ${fd}`);
    // Read once into memory: the text is handed on (to a daemon child, to workers) from here.
    const bytes = readConfigDescriptor(fd);
    return { config: loadConfigText(decodeConfigBytes(bytes), String(fd)), bytes };
  }
  const file = request.configFile ?? DEFAULT_CONFIG_FILE;
  log.write(5, 'ui', `Reading configuration from file ${safeRealpath(file)}`);
  return { config: loadConfig({ file }) };
}

/** Step 5: every TLS context built as the start would; a failure in stunnel's context lines. */
function checkContexts(server: Server, config: Config): void {
  try {
    server.check(config);
  } catch (error) {
    throw new StartupError(contextFailureLines(error));
  }
}

/** Step 6: binds the `metrics` endpoint (before the privilege drop); null when the option is not set. */
async function openMetrics(config: Config, server: Server, log: Log): Promise<MetricsEndpoint | null> {
  const address = config.global.metrics;
  if (address === null) return null;
  const endpoint = new MetricsEndpoint(address, () => server.metrics());
  try {
    const bound = await endpoint.listen();
    log.write(6, 'ui', `Metrics endpoint bound to ${bound}`);
  } catch (error) {
    throw new StartupError([`Binding metrics endpoint to ${address.text}: ${errnoText(error)}`]);
  }
  return endpoint;
}

/** Step 9: the `pid` file, where and as whom the server reaches it; null when the option is not set. */
function createPidFile(server: Server, config: Config, log: Log): PidFile | null {
  const pid = config.global.pid;
  if (pid === null) return null;
  const pidFile = server.pidFile(config, pid);
  pidFile.create();
  log.write(7, 'ui', `Created pid file ${pid}`);
  return pidFile;
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
