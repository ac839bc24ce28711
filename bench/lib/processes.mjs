/**
 * @module bench/lib/processes
 * Every process the benchmark starts goes through here, in its own process group, so that
 * the whole group (nginx workers, cluster workers) is killed when the run ends — normally,
 * on an error or on Ctrl-C. Also the temp dirs, removed at the same moment.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set();
const tempDirs = new Set();
let keepTemp = false;

/** Temp dirs survive the run (for --keep). */
export function keepTempDirs() {
  keepTemp = true;
}

export function makeTempDir(prefix = 'stunnel-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

/**
 * Starts `command args` in its own process group. Its stdout+stderr go to `logFile`
 * (when given) or to pipes (`stdout: 'pipe'`, for clients that report JSON lines).
 */
export function start(command, args, { logFile, stdout = 'file', env, cwd } = {}) {
  const fd = logFile ? openSync(logFile, 'a') : null;
  const out = stdout === 'pipe' ? 'pipe' : fd ?? 'ignore';
  const child = spawn(command, args, {
    detached: true, // own process group: killGroup reaches every descendant
    stdio: ['pipe', out, fd ?? 'pipe'],
    env: env ?? process.env,
    cwd,
  });
  if (fd != null) closeSync(fd);
  child.on('error', () => {}); // reported through `exited`
  live.add(child);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      live.delete(child);
      resolve({ code: null, signal: null, error });
    });
  });
  /** The last lines the process wrote to its log file (for error messages). */
  const tail = (lines = 15) => {
    if (!logFile) return '';
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const messages = [];
  const waiters = new Set();
  if (stdout === 'pipe') {
    onJsonLines(child.stdout, (message) => {
      messages.push(message);
      for (const waiter of waiters) waiter(message);
    });
  }
  return {
    child,
    pid: child.pid,
    exited,
    messages,
    /**
     * The first JSON line (already printed or future) for which `accept` is true; rejects when
     * the process exits first or after `backstopMs`.
     */
    waitForMessage(accept, backstopMs, what) {
      const seen = messages.find(accept);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = (fn, value) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn(value);
        };
        const check = (message) => accept(message) && done(resolve, message);
        const timer = setTimeout(() => done(reject, new Error(`backstop: ${what} did not report within ${backstopMs} ms`)), backstopMs);
        waiters.add(check);
        exited.then(({ code, signal }) => setImmediate(() => done(reject, new Error(`${what} exited (code ${code}, signal ${signal}) before reporting\n${tail()}`))));
      });
    },
    tail,
    /** TERM to the group, KILL after `graceMs`; resolves once the leader has exited. */
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs); // backstop
      const result = await exited;
      clearTimeout(timer);
      killGroup(child, 'SIGKILL'); // stragglers left in the group
      return result;
    },
  };
}

/** Calls onMessage for each newline-terminated JSON object read from `stream`. */
function onJsonLines(stream, onMessage) {
  let buffer = '';
  stream.on('data', (chunk) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('{')) onMessage(JSON.parse(line));
    }
  });
}

/** Kills every process still running and removes the temp dirs. Safe to call more than once. */
export function cleanupAll() {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
  if (!keepTemp) {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  }
}

/** Installs exit, Ctrl-C and termination hooks that run cleanupAll. */
export function installCleanupHooks() {
  process.on('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal} — stopping every process it started\n`);
      cleanupAll();
      process.exit(130);
    });
  }
}

