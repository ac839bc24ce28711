/**
 * The primary of `workers = 2` supervises: a worker killed with SIGKILL is logged and
 * replaced while the other keeps serving; SIGHUP reloads every worker (each connects to
 * the new backend) and a broken file keeps the old configuration everywhere; SIGTERM
 * stops all of them and removes the pid file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { nextLine, tlsClient, verifiedByTestCa } from '../helpers/net';
import { EchoBench, FOREGROUND } from '../process/echo-bench';
import { alive, onlyWorker, servedBy, startedWorkers, workerPids } from '../process/workers-harness';

const bench = new EchoBench('stunnel-ts-workers-sup-', 2);
const pidFile = join(bench.dir, 'stunnel.pid');
let daemon: Running;
let port: number;
let conf: string;
let connectTo: (backend: number) => void;

bench.before(async () => {
  ({ daemon, port, conf, connectTo } = await bench.startReloadable('workers', `${FOREGROUND}\nworkers = 2\npid = ${pidFile}`));
  await startedWorkers(daemon, 2);
});

/** A round trip with intact bytes served by worker `id` (the others stopped meanwhile). */
async function roundTripOn(workers: Map<number, number>, id: number): Promise<void> {
  await onlyWorker(workers, id, async () => {
    const socket = await tlsClient(port, verifiedByTestCa());
    assert.equal(await servedBy(daemon, socket), id);
    const result = await exchange(socket, 64 * 1024);
    assert.equal(result.received, result.sent);
  });
}

test('a worker killed with SIGKILL is replaced; the service continues', async () => {
  const before = workerPids(daemon);
  const [victimId, victimPid] = [...before][0];
  const replaced = nextLine(daemon, /Worker \d+ \(pid \d+\) started$/);
  process.kill(victimPid, 'SIGKILL');
  assert.match(await nextLine(daemon, /restarting$/),
    new RegExp(`LOG3\\[ui\\]: Worker ${victimId} \\(pid ${victimPid}\\) exited on signal SIGKILL; restarting$`));
  await replaced;
  const after = workerPids(daemon);
  after.delete(victimId);
  assert.equal(after.size, 2);
  assert.equal(alive(victimPid), false);
  for (const id of after.keys()) await roundTripOn(after, id);
});

test('SIGHUP reloads every worker; a broken file keeps the old configuration everywhere', async () => {
  const workers = new Map([...workerPids(daemon)].filter(([, pid]) => alive(pid)));
  assert.equal(workers.size, 2);
  connectTo(1);
  const success = nextLine(daemon, /Configuration successful$/);
  daemon.child.kill('SIGHUP');
  assert.match(await success, /LOG5\[ui\]: Configuration successful$/);
  for (const id of workers.keys()) {
    const connected = nextLine(daemon, new RegExp(`LOG5\\[${id}\\.\\d+\\]: s_connect: connected 127\\.0\\.0\\.1:${bench.echoPort(1)}$`));
    await roundTripOn(workers, id);
    await connected;
  }

  writeFileSync(conf, 'this is not = valid\n');
  const failed = nextLine(daemon, /Failed to reload the configuration file$/);
  daemon.child.kill('SIGHUP');
  assert.match(await failed, /LOG3\[ui\]: Failed to reload the configuration file$/);
  for (const id of workers.keys()) {
    const connected = nextLine(daemon, new RegExp(`LOG5\\[${id}\\.\\d+\\]: s_connect: connected 127\\.0\\.0\\.1:${bench.echoPort(1)}$`));
    await roundTripOn(workers, id);
    await connected;
  }
});

test('SIGTERM stops every worker and removes the pid file', async () => {
  const pids = [...workerPids(daemon).values()].filter(alive);
  assert.equal(pids.length, 2);
  daemon.child.kill('SIGTERM');
  const { code } = await daemon.exited;
  assert.equal(code, 0);
  assert.equal(existsSync(pidFile), false);
  for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
});
