/**
 * @module spec/process/harness
 * What the daemon e2e specs share: running the binary to its exit (daemon mode returns
 * at once), following a log file a detached daemon writes, waiting for a file to appear
 * or vanish (fs.watch, no polling), TLS clients, chroot jails, and /proc readings.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, watch } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { BIN, type Running } from '../helpers/daemon';
import { pki } from '../helpers/pki';

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `stunnel-ts ARGS` (or a shell line when `shell` is given) and resolves when it exits. */
export async function runToExit(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const [code] = await once(child, 'close') as [number | null];
  return { code, stdout, stderr };
}

/** Resolves once `check()` holds, re-checking whenever something changes in `path`'s directory. */
export function waitForPath(path: string, check: () => boolean, what: string, backstopMs = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const watcher = watch(dirname(path), () => {
      if (!check()) return;
      watcher.close();
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => { watcher.close(); reject(new Error(`backstop: ${what} (${path})`)); }, backstopMs);
    if (check()) { watcher.close(); clearTimeout(timer); resolve(); }
  });
}

/** The first line of the file matching `re`, waiting for the daemon to write it. */
export async function waitForLine(path: string, re: RegExp, backstopMs = 10000): Promise<string> {
  let found: string | undefined;
  const check = () => {
    found = existsSync(path) ? readFileSync(path, 'utf8').split('\n').find((l) => re.test(l)) : undefined;
    return found !== undefined;
  };
  await waitForPath(path, check, `no line matching ${re} in ${basename(path)}`, backstopMs);
  return found!;
}

/** Lines of a log file matching `re`. */
export function linesMatching(path: string, re: RegExp): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => re.test(l));
}

/** The descriptor numbers `pid` has open, from /proc/PID/fd. */
export function openDescriptors(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`).map(Number);
}

/** A field of /proc/PID/status (`Uid`, `Gid`, `Groups`, `PPid`, …). */
export function procStatus(pid: number, field: string): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s*(.*)$`, 'm'))![1].trim();
}

/** A TLS client of the test CA, connected and handshaken. */
export async function tlsClient(port: number): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki().ca.certPem, servername: 'localhost' });
  await once(socket, 'secureConnect');
  return socket;
}

/** The pid a daemon wrote in its pid file. */
export function pidFrom(path: string): number {
  return Number(readFileSync(path, 'utf8').trim());
}

/** Sends a signal and waits until the pid file is gone (the daemon removes it last before exiting). */
export async function stopDaemon(pidFile: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!existsSync(pidFile)) return;
  process.kill(pidFrom(pidFile), signal);
  await waitForPath(pidFile, () => !existsSync(pidFile), 'pid file removed at exit');
}

/** The next line (after the ones already seen) matching `re` from a foreground run. */
export function nextLine(running: Running, re: RegExp, backstopMs = 10000): Promise<string> {
  const start = running.lines.length;
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = running.lines.slice(start).find((l) => re.test(l));
      if (hit === undefined) return;
      cleanup();
      resolve(hit);
    };
    const cleanup = () => {
      running.child.stderr?.off('data', check);
      running.child.stdout?.off('data', check);
      clearTimeout(timer);
    };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`backstop: no new line matching ${re}:\n${running.lines.join('\n')}`)); }, backstopMs);
    running.child.stderr?.on('data', check);
    running.child.stdout?.on('data', check);
    running.exited.then(() => { cleanup(); reject(new Error(`exited before a new line matching ${re}`)); }, () => undefined);
  });
}

/**
 * A transfer held open in the middle: the first half is sent and echoed back before
 * `finish()` sends the rest and half-closes. Resolves with both SHA-256 digests.
 */
export async function heldTransfer(socket: Socket, size: number): Promise<{ finish: () => Promise<{ sent: string; received: string }> }> {
  const payload = randomBytes(size);
  const half = Math.floor(size / 2);
  const hash = createHash('sha256');
  let received = 0;
  let halfBack: () => void = () => undefined;
  const halfway = new Promise<void>((resolve, reject) => {
    halfBack = resolve;
    socket.once('close', () => reject(new Error(`transfer dropped after ${received} of ${half} bytes came back`)));
  });
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
    if (received >= half) halfBack();
  });
  const ended = once(socket, 'end');
  socket.write(payload.subarray(0, half));
  await halfway;
  return {
    finish: async () => {
      socket.end(payload.subarray(half));
      await ended;
      return { sent: createHash('sha256').update(payload).digest('hex'), received: hash.digest('hex') };
    },
  };
}

/** A chroot jail under `dir` with `run/` and `log/` owned by `owner` (and `dir` searchable by it). */
export function makeJail(dir: string, owner: number): { jail: string; pidFile: string; logFile: string } {
  const jail = join(dir, 'jail');
  chmodSync(dir, 0o755);
  for (const sub of ['run', 'log']) {
    mkdirSync(join(jail, sub), { recursive: true });
    chownSync(join(jail, sub), owner, owner);
  }
  return { jail, pidFile: join(jail, 'run', 'stunnel.pid'), logFile: join(jail, 'log', 'stunnel.log') };
}

/** /proc says `pid` runs as `id`:`id` with that one group, with `root` as its root directory. */
export function assertConfined(pid: number, id: number, root: string): void {
  assert.equal(readlinkSync(`/proc/${pid}/root`), root);
  assert.equal(procStatus(pid, 'Uid'), `${id}\t${id}\t${id}\t${id}`);
  assert.equal(procStatus(pid, 'Gid'), `${id}\t${id}\t${id}\t${id}`);
  assert.equal(procStatus(pid, 'Groups'), String(id));
}

/** `text` as it must be written inside a RegExp to match itself (paths in expected log lines). */
export function regexText(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
