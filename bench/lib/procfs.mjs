/**
 * @module bench/lib/procfs
 * What the kernel says about a running proxy: CPU time from /proc/PID/stat and resident
 * memory from /proc/PID/status, summed over the proxy and every process below it
 * (worker processes, helper children). Parsing is pure; reading is a thin layer on top.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second for utime/stime. Linux has used 100 (USER_HZ) on every arch that matters. */
export const CLOCK_TICKS = 100;

/**
 * Parses one /proc/PID/stat line. The command name (field 2) sits in parentheses and may itself
 * contain spaces and parentheses, so fields are counted from the LAST ')'.
 * Returns ppid, and utime/stime/cutime/cstime in clock ticks (cutime/cstime: children already reaped).
 */
export function parseStat(text) {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/PID/stat line: ${JSON.stringify(text.slice(0, 60))}`);
  const pid = Number(text.slice(0, text.indexOf('(')).trim());
  const comm = text.slice(text.indexOf('(') + 1, close);
  // After ')': field 3 (state) is index 0, so field N is index N - 3.
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n) => Number(rest[n - 3]);
  return {
    pid,
    comm,
    state: rest[0],
    ppid: field(4),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
  };
}

/** VmRSS from /proc/PID/status text, in bytes (the kernel reports kB). 0 when absent (a zombie). */
export function parseRssBytes(statusText) {
  const m = statusText.match(/^VmRSS:\s+(\d+)\s+kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The pids of `root` and all its descendants, given a map pid → ppid. */
export function descendants(root, parentOf) {
  const children = new Map();
  for (const [pid, ppid] of parentOf) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process went away between listing and reading
  }
}

/** Every live process's ppid, from /proc. */
function parentMap() {
  const map = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const text = readText(`/proc/${name}/stat`);
    if (text) map.set(Number(name), parseStat(text).ppid);
  }
  return map;
}

/** The proxy's process tree (itself first). */
export function processTree(rootPid) {
  return descendants(rootPid, parentMap()).filter((pid) => pid === rootPid || readText(`/proc/${pid}/stat`));
}

/**
 * CPU time used so far by the tree under rootPid, in seconds, split into user and system:
 * utime/stime of each live process (all its threads) plus cutime/cstime of children it has
 * already reaped.
 */
export function treeCpuTimes(rootPid) {
  let user = 0;
  let system = 0;
  for (const pid of processTree(rootPid)) {
    const text = readText(`/proc/${pid}/stat`);
    if (!text) continue;
    const s = parseStat(text);
    user += s.utime + s.cutime;
    system += s.stime + s.cstime;
  }
  return { user: user / CLOCK_TICKS, system: system / CLOCK_TICKS };
}

/** Resident memory of the tree under rootPid, in bytes. */
export function treeRssBytes(rootPid) {
  let bytes = 0;
  for (const pid of processTree(rootPid)) {
    const text = readText(`/proc/${pid}/status`);
    if (text) bytes += parseRssBytes(text);
  }
  return bytes;
}
