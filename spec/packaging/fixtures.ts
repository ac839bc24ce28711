/**
 * @module spec/packaging/fixtures
 * Shared by the packaging specs: a scratch root for the init scripts, daemon-mode
 * configurations whose log file the test follows, an echo backend, a TLS round trip
 * checked by SHA-256, and /proc readers.
 *
 * The daemon under test is bin/stunnel-ts unless PACKAGING_DAEMON names another
 * program (PACKAGING_DAEMON=/usr/bin/stunnel4 runs the same specs against Debian's
 * stunnel 5.68, the behaviour stunnel-ts copies).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { BIN, tempDir } from '../helpers/daemon';
import type { Pki } from '../helpers/pki';

/** The repository root (specs run from dist/spec/packaging). */
export const REPO = resolve(__dirname, '../../..');
export const INIT_SCRIPT = join(REPO, 'init.d/stunnel-ts');
export const DAEMON = process.env.PACKAGING_DAEMON ?? BIN;
/**
 * stunnel 5.68 closes and re-binds every listener on SIGHUP (a `:0` port changes);
 * stunnel-ts keeps the listeners whose address did not change.
 */
export const REBINDS_ON_RELOAD = basename(DAEMON) === 'stunnel4';

export interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end (in the repository unless `cwd` says otherwise); never rejects on a non-zero exit. */
export function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = REPO): Promise<Outcome> {
  return new Promise((resolvePromise) => {
    execFile(file, args, { env: { ...process.env, ...env }, cwd }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A scratch root: etc/ for configurations, run/ for pid files, log/ for `output` files. */
export interface Root {
  readonly dir: string;
  readonly etc: string;
  readonly run: string;
  readonly log: string;
}

export function scratchRoot(prefix: string): Root {
  const dir = tempDir(prefix);
  const root = { dir, etc: join(dir, 'etc'), run: join(dir, 'run'), log: join(dir, 'log') };
  for (const sub of [root.etc, root.run, root.log]) mkdirSync(sub);
  return root;
}

/** One daemon-mode configuration in a scratch root and the files it names. */
export interface DaemonConf {
  readonly file: string;
  readonly pidFile: string;
  readonly logFile: string;
}

/**
 * Writes ROOT/etc/NAME.conf: a daemon (no `foreground`) with a pid file and a debug-level
 * log file, and one TLS service on 127.0.0.1:0 in front of `backendPort`.
 */
export function daemonConf(root: Root, name: string, pki: Pki, backendPort: number): DaemonConf {
  const conf = {
    file: join(root.etc, `${name}.conf`),
    pidFile: join(root.run, `${name}.pid`),
    logFile: join(root.log, `${name}.log`),
  };
  writeFileSync(conf.file, [
    `; ${name}: written by spec/packaging`,
    `pid = ${conf.pidFile}`,
    `output = ${conf.logFile}`,
    'debug = 7',
    'syslog = no',
    '[echo]',
    'accept = 127.0.0.1:0',
    `connect = 127.0.0.1:${backendPort}`,
    `cert = ${pki.serverCert}`,
    `key = ${pki.serverKey}`,
    '',
  ].join('\n'));
  return conf;
}

/** A TCP echo server on 127.0.0.1, port 0. */
export async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** An echo backend, a scratch root and one daemon configuration in front of that backend. */
export async function scratchTunnel(prefix: string, name: string, pki: Pki): Promise<{ backend: Server; root: Root; conf: DaemonConf }> {
  const { server: backend, port } = await echoServer();
  const root = scratchRoot(prefix);
  return { backend, root, conf: daemonConf(root, name, pki, port) };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Sends 64 KiB through the TLS port and resolves with [sent, received] SHA-256 digests. */
export async function tlsRoundTrip(port: number, pki: Pki): Promise<[string, string]> {
  const payload = randomBytes(64 * 1024);
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(pki.caFile), servername: 'localhost' });
  await once(socket, 'secureConnect');
  const chunks: Buffer[] = [];
  let received = 0;
  const done = new Promise<void>((resolvePromise, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) resolvePromise();
    });
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`the tunnel closed after ${received} bytes`)));
  });
  socket.write(payload);
  await done;
  socket.destroy();
  return [sha256(payload), sha256(Buffer.concat(chunks))];
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Lines of `file` matching `re` (0 when it does not exist yet). */
export function matchingLines(file: string, re: RegExp): string[] {
  return readText(file).split('\n').filter((line) => re.test(line));
}

/**
 * Resolves with the lines of `file` matching `re` once there are at least `count` of
 * them; follows the file through inotify events on its directory (no polling).
 */
export function waitForLines(file: string, re: RegExp, count = 1, backstopMs = 15000): Promise<string[]> {
  return new Promise((resolvePromise, reject) => {
    const watcher = watch(dirname(file));
    const timer = setTimeout(() => { // backstop
      watcher.close();
      reject(new Error(`backstop: ${file} has no ${count} line(s) matching ${re}:\n${readText(file)}`));
    }, backstopMs);
    const check = () => {
      const lines = matchingLines(file, re);
      if (lines.length < count) return;
      clearTimeout(timer);
      watcher.close();
      resolvePromise(lines);
    };
    watcher.on('change', check);
    check();
  });
}

/** Resolves once `file` exists (the daemon's pid file), through inotify on its directory. */
export function waitForFile(file: string, backstopMs = 15000): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const watcher = watch(dirname(file));
    const timer = setTimeout(() => { // backstop
      watcher.close();
      reject(new Error(`backstop: ${file} did not appear`));
    }, backstopMs);
    const check = () => {
      if (!existsSync(file)) return;
      clearTimeout(timer);
      watcher.close();
      resolvePromise();
    };
    watcher.on('change', check);
    check();
  });
}

/** The port of the last `bound to` line in a daemon's log file. */
export function lastBoundPort(logFile: string): number {
  const bound = matchingLines(logFile, / bound to .*:\d+$/);
  if (bound.length === 0) throw new Error(`no "bound to" line in ${logFile}`);
  return Number(bound[bound.length - 1].match(/:(\d+)$/)![1]);
}


/** One row of /proc/PID/limits as [soft, hard], e.g. limit(pid, 'Max open files'). */
export function limit(pid: number, name: string): [string, string] {
  const row = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((line) => line.startsWith(name));
  if (!row) throw new Error(`no "${name}" in /proc/${pid}/limits`);
  const [soft, hard] = row.slice(name.length).trim().split(/\s+/);
  return [soft, hard];
}

/** True while `pid` is a live process (a zombie, with its empty command line, counts as gone). */
export function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`).length > 0;
  } catch {
    return false;
  }
}

/**
 * Sends HUP through `send` (one action reaching every daemon in `confs`), then resolves
 * with the port each daemon serves afterwards, once it has finished reloading (its
 * second `Configuration successful`, and for a daemon that re-binds every listener, the
 * `bound to` line that follows).
 */
export async function reloadAndFollow(confs: readonly DaemonConf[], send: () => Promise<void>): Promise<number[]> {
  const counts = confs.map((conf) => ({
    reloads: matchingLines(conf.logFile, /Reading configuration from file/).length,
    binds: matchingLines(conf.logFile, / bound to /).length,
  }));
  await send();
  return Promise.all(confs.map(async (conf, i) => {
    await waitForLines(conf.logFile, /Reading configuration from file/, counts[i].reloads + 1);
    await waitForLines(conf.logFile, /Configuration successful/, counts[i].reloads + 1);
    if (REBINDS_ON_RELOAD) await waitForLines(conf.logFile, / bound to /, counts[i].binds + 1);
    return lastBoundPort(conf.logFile);
  }));
}
