/**
 * @module spec/process/workers-harness
 * What the `workers = N` specs share: the worker pids from the primary's `Worker N (pid P)
 * started` lines, which worker served a connection (its `accepted connection from
 * 127.0.0.1:PORT` line carries the worker's id prefix), and a way to make one particular
 * worker take the next connection: the others are stopped (SIGSTOP) meanwhile, so only it
 * is in accept().
 */
import type { TLSSocket } from 'node:tls';
import type { Running } from '../helpers/daemon';

/** Worker id → pid, from the `Worker N (pid P) started` lines seen so far. */
export function workerPids(running: Running): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of running.lines) {
    const m = line.match(/LOG5\[(?:ui|main)\]: Worker (\d+) \(pid (\d+)\) started$/);
    if (m) pids.set(Number(m[1]), Number(m[2]));
  }
  return pids;
}

/** Waits for `count` started workers and returns their ids and pids. */
export async function startedWorkers(running: Running, count: number): Promise<Map<number, number>> {
  while (workerPids(running).size < count) {
    const seen = workerPids(running).size;
    await running.waitFor(new RegExp(`Worker \\d+ \\(pid \\d+\\) started$`));
    if (workerPids(running).size === seen) await new Promise((resolve) => setImmediate(resolve));
  }
  return workerPids(running);
}

/** The id of the worker that accepted the connection `client` made (from its local port). */
export async function servedBy(running: Running, client: TLSSocket): Promise<number> {
  const line = await running.waitFor(new RegExp(`LOG5\\[(\\d+)\\.\\d+\\]: Service \\[\\w+\\] accepted connection from 127\\.0\\.0\\.1:${client.localPort}$`));
  return Number(line[1]);
}

/** Runs `action` while every worker except `keep` is stopped, so `keep` takes the connections. */
export async function onlyWorker<T>(pids: ReadonlyMap<number, number>, keep: number, action: () => Promise<T>): Promise<T> {
  const others = [...pids].filter(([id]) => id !== keep).map(([, pid]) => pid);
  for (const pid of others) process.kill(pid, 'SIGSTOP');
  try {
    return await action();
  } finally {
    for (const pid of others) process.kill(pid, 'SIGCONT');
  }
}

/** True while /proc shows the process. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
