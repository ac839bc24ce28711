/**
 * @module spec/helpers/daemon
 * Runs the real binary with a config written to a temp dir and syncs on its log
 * lines (never on sleeps): `bound to` gives the port, as stunnel's own test suite does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { track } from './processes';

export const BIN = resolve(__dirname, '../../../bin/stunnel-ts');

export function tempDir(prefix = 'stunnel-ts-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeConf(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text.replace(/^[ \t]+/gm, ''));
  return file;
}

export class Running {
  readonly lines: string[] = [];
  /** Pending waits; `resolve` answers whether the wait is over (an n-th match skips earlier ones). */
  #waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => boolean }> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          const m = line.match(w.re);
          return !(m && w.resolve(m));
        });
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    track(child);
    // A program that cannot be spawned (ENOENT) emits 'error' and no 'close': it has exited too.
    this.exited = new Promise((resolveExit) => {
      child.once('close', (code, signal) => resolveExit({ code, signal }));
      child.once('error', () => resolveExit({ code: null, signal: null }));
    });
  }

  /** Resolves with the first line (already seen or future) matching `re`; rejects if the process exits first. */
  waitFor(re: RegExp, backstopMs = 15000): Promise<RegExpMatchArray> {
    return this.#waitForNth(re, 0, backstopMs);
  }

  /** The `n`-th line (0-based, already seen or future) matching `re`; rejects on exit or after `backstopMs`. */
  #waitForNth(re: RegExp, n: number, backstopMs: number): Promise<RegExpMatchArray> {
    const seen = this.lines.map((line) => line.match(re)).filter((m) => m !== null);
    if (seen.length > n) return Promise.resolve(seen[n]);
    let left = n - seen.length;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`backstop: no line #${n} matching ${re} in:\n${this.lines.join('\n')}`)), backstopMs);
      this.#waiters.push({
        re,
        resolve: (m) => {
          if (left-- > 0) return false;
          clearTimeout(timer);
          resolvePromise(m);
          return true;
        },
      });
      void this.exited.then(() => setImmediate(() => {
        clearTimeout(timer);
        reject(new Error(`process exited before line #${n} matching ${re}:\n${this.lines.join('\n')}`));
      }));
    });
  }

  /** The port of the n-th `bound to` line (0-based). */
  async port(n = 0, backstopMs = 15000): Promise<number> {
    const m = await this.#waitForNth(/ bound to .*:(\d+)$/, n, backstopMs);
    return Number(m[1]);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** Starts `stunnel-ts CONFIG` (foreground configs), stdout and stderr captured as lines. */
export function runStunnelTs(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return new Running(child);
}
