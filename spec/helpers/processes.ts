/**
 * @module spec/helpers/processes
 * Nothing a spec file starts outlives it. Importing this module marks the file's process
 * (FILE_MARKER=its pid, inherited by every child, kept by daemons that detach) and registers
 * one `after` hook on the file's root: it kills every tracked child, then every process still
 * carrying the mark — whether the tests passed, failed or timed out. The hook also runs at exit.
 */
import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { FILE_MARKER, findMarked, killAll } from './proc-scan';

const mark = `${FILE_MARKER}=${process.pid}`;
process.env[FILE_MARKER] = String(process.pid);

const children = new Set<ChildProcess>();

/** Records a child so that it is killed when the spec file ends (if it has not exited by then). */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills the tracked children and whatever else this file started that still runs. */
export function reap(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  killAll(findMarked({ env: mark }));
}

after(reap);
process.once('exit', reap);
