/**
 * @module spec/helpers/processes
 * Nothing a spec file starts outlives it. Importing this module marks the file's process
 * (FILE_MARKER=its pid, inherited by every child, kept by daemons that detach) and arms a reaper
 * that kills every tracked child, then every process still carrying the mark — whether the tests
 * passed, failed or timed out:
 *
 *   file's after phase begins ──(the spec's own after hooks stop their daemons gracefully)──┐
 *        │ GRACE_MS later, if the file is still alive (a leaked child holds its event loop) → reap
 *        └ at exit, or on the runner's SIGTERM when the file times out                      → reap
 *
 * (Node runs a file's root `after` hooks in the order they were registered, and this module is
 * imported before a spec registers its own: so the reaper waits instead of running at once.)
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

/** How long the spec's own after hooks get to stop what they started before the reaper does. */
const GRACE_MS = 15_000;

after(() => { setTimeout(reap, GRACE_MS).unref(); });
process.once('exit', reap);
process.once('SIGTERM', () => {
  reap();
  process.exit(143);
});
