/**
 * Session-id resumption with `workers = 2` (issue #12 item 1): a TLS 1.2 client without tickets
 * (`openssl s_client -tls1_2 -no_ticket -sess_out`, then `-sess_in`) resumes whichever worker
 * takes the connection, and on a worker started after the session was made (a replacement for
 * one killed with SIGKILL): the primary keeps the workers' sessions and hands them on.
 *
 * Which worker served is read from the connection ids of the log lines (`LOG6[2.5]`: worker 2);
 * a worker is made to take a connection by stopping the other (spec/process/workers-harness).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Running } from '../helpers/daemon';
import { nextLine, runClosedStdin } from '../helpers/net';
import { assertPeers, skipWithout } from '../helpers/peers';
import { EchoBench } from '../process/echo-bench';
import { onlyWorker, startedWorkers, workerPids } from '../process/workers-harness';

const bench = new EchoBench('stunnel-ts-workers-sid-');
const sessionFile = join(bench.dir, 'session.pem');
/** How many connections resume before each worker is made to take one. */
const ROUNDS = 8;
let daemon: Running;
let port: number;

bench.before(async () => {
  if (skipWithout('openssl')) return;
  // debug = 7: the primary's `shared a session` line, which the test waits for.
  daemon = await bench.startForeground(bench.writeEchoConf('sid', 'foreground = yes\nsyslog = no\ndebug = 7\nworkers = 2'));
  port = await daemon.port(0);
  await startedWorkers(daemon, 2);
});

/** One s_client connection without tickets: `-sess_out` makes the session file, `-sess_in` offers it. */
async function visit(mode: '-sess_out' | '-sess_in'): Promise<'New' | 'Reused'> {
  const { out, hung } = await runClosedStdin('openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-no_ticket', mode, sessionFile]);
  assert.equal(hung, false, out);
  const how = /^(New|Reused), TLSv1\.2/m.exec(out);
  assert.ok(how, out);
  return how[1] as 'New' | 'Reused';
}

const REUSED = /LOG6\[(\d+)\.\d+\]: TLS accepted: previous session reused$/;

/** Worker id → `previous session reused` lines so far. */
function resumedPerWorker(): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of daemon.lines) {
    const m = REUSED.exec(line);
    if (m) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
  }
  return counts;
}

/** A resumed connection, and the worker whose `previous session reused` line it made. */
async function resumedOn(): Promise<number> {
  const logged = nextLine(daemon, REUSED);
  assert.equal(await visit('-sess_in'), 'Reused');
  return Number(REUSED.exec(await logged)![1]);
}

describe('workers = 2: session-id resumption on any worker', { skip: skipWithout('openssl') }, () => {
  test('a session made on one worker resumes on every worker', async () => {
    assertPeers('openssl');
    const workers = workerPids(daemon);
    const [maker] = [...workers.keys()];
    const shared = nextLine(daemon, new RegExp(`LOG7\\[ui\\]: Worker ${maker} \\(pid \\d+\\) shared a session of service \\[echo\\] with 1 worker\\(s\\)$`));
    assert.equal(await onlyWorker(workers, maker, () => visit('-sess_out')), 'New');
    await shared;

    const served: number[] = [];
    for (let i = 0; i < ROUNDS; i++) served.push(await resumedOn());
    // The kernel may have handed them all to one worker: each is made to take one more.
    for (const id of workers.keys()) served.push(await onlyWorker(workers, id, resumedOn));
    for (const id of workers.keys()) assert.ok(served.includes(id), `worker ${id} resumed a session: ${served.join(' ')}`);
    assert.equal(served.length, ROUNDS + workers.size);
    assert.equal([...resumedPerWorker().values()].reduce((a, b) => a + b), served.length);
  });

  test('a worker started after the session was made resumes it', async () => {
    assertPeers('openssl');
    const before = workerPids(daemon);
    // The worker that made the session goes: its replacement can only have it from the primary.
    const [victimId, victimPid] = [...before][0];
    const started = nextLine(daemon, /LOG5\[ui\]: Worker \d+ \(pid \d+\) started$/);
    process.kill(victimPid, 'SIGKILL');
    const newId = Number(/Worker (\d+)/.exec(await started)![1]);
    assert.equal(before.has(newId), false);
    const workers = workerPids(daemon);
    workers.delete(victimId);
    assert.equal(await onlyWorker(workers, newId, resumedOn), newId);
  });
});
