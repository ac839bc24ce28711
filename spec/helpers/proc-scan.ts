/**
 * @module spec/helpers/proc-scan
 * Finds the processes of one test run (or one spec file) in /proc: a marker variable in
 * their environment (children inherit it, detached daemons keep it), or a path under the
 * run's temp root in their command line or working directory. Imports nothing of node:test,
 * so that spec/run.mjs can use it after the runner has exited.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Set by spec/run.mjs for the whole run: every process of the run inherits it. */
export const RUN_MARKER = 'STUNNEL_TS_TEST_RUN';
/** Set by spec/helpers/processes in each spec file's process: its children inherit it. */
export const FILE_MARKER = 'STUNNEL_TS_TEST_FILE';

export interface Found {
  readonly pid: number;
  readonly command: string;
}

export interface Marks {
  /** `NAME=value` that must appear in the process's environment. */
  readonly env?: string;
  /** A directory: a process whose command line names it, or which runs inside it, matches. */
  readonly root?: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null; // gone meanwhile, or a kernel thread
  }
}

/** The processes (other than this one and its ancestors) carrying `marks`. */
export function findMarked(marks: Marks): Found[] {
  const spare = new Set([process.pid, process.ppid]);
  const found: Found[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || spare.has(pid)) continue;
    const cmdline = read(`/proc/${pid}/cmdline`);
    if (cmdline === null || cmdline === '') continue;
    const command = cmdline.replace(/\0+$/, '').split('\0').join(' ');
    let hit = marks.env !== undefined && (read(`/proc/${pid}/environ`) ?? '').split('\0').includes(marks.env);
    if (!hit && marks.root !== undefined) {
      let cwd = '';
      try { cwd = readlinkSync(`/proc/${pid}/cwd`); } catch { /* gone */ }
      hit = command.includes(marks.root) || cwd === marks.root || cwd.startsWith(`${marks.root}/`);
    }
    if (hit) found.push({ pid, command });
  }
  return found;
}

/** SIGKILLs each process, ignoring those already gone. */
export function killAll(found: readonly Found[]): void {
  for (const { pid } of found) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}
