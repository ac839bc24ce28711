/**
 * The primary of `workers = 2` supervises: a worker killed with SIGKILL is logged and
 * replaced while the other keeps serving; SIGHUP reloads every worker (each connects to
 * the new backend) and a broken file keeps the old configuration everywhere; SIGTERM
 * stops all of them and removes the pid file.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pki } from '../helpers/pki';
import { runStunnelTs, tempDir, writeConf, type Running } from '../helpers/daemon';
import { closedPort, echoServer, exchange } from '../helpers/config';
import { nextLine, tlsClient } from '../process/harness';
import { alive, onlyWorker, servedBy, startedWorkers, workerPids } from '../process/workers-harness';

const p = pki();
const dir = tempDir('stunnel-ts-workers-sup-');
const pidFile = join(dir, 'stunnel.pid');
let first: Awaited<ReturnType<typeof echoServer>>;
let second: Awaited<ReturnType<typeof echoServer>>;
let daemon: Running;
let port: number;
let conf: string;

const confText = (backend: number) => `
  foreground = yes
  syslog = no
  debug = 6
  workers = 2
  pid = ${pidFile}
  [echo]
  accept = 127.0.0.1:${port}
  connect = 127.0.0.1:${backend}
  cert = ${p.serverCert}
  key = ${p.serverKey}
`;

before(async () => {
  first = await echoServer();
  second = await echoServer();
  port = await closedPort();
  conf = writeConf(dir, 'workers.conf', confText(first.port));
  daemon = runStunnelTs([conf]);
  await daemon.waitFor(/Accepting new connections/);
  await startedWorkers(daemon, 2);
});
after(async () => {
  await daemon.stop();
  first.server.close();
  second.server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A round trip with intact bytes served by worker `id` (the others stopped meanwhile). */
async function roundTripOn(workers: Map<number, number>, id: number): Promise<void> {
  await onlyWorker(workers, id, async () => {
    const socket = await tlsClient(port);
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
  writeFileSync(conf, confText(second.port).replace(/^[ \t]+/gm, ''));
  const success = nextLine(daemon, /Configuration successful$/);
  daemon.child.kill('SIGHUP');
  assert.match(await success, /LOG5\[ui\]: Configuration successful$/);
  for (const id of workers.keys()) {
    const connected = nextLine(daemon, new RegExp(`LOG5\\[${id}\\.\\d+\\]: s_connect: connected 127\\.0\\.0\\.1:${second.port}$`));
    await roundTripOn(workers, id);
    await connected;
  }

  writeFileSync(conf, 'this is not = valid\n');
  const failed = nextLine(daemon, /Failed to reload the configuration file$/);
  daemon.child.kill('SIGHUP');
  assert.match(await failed, /LOG3\[ui\]: Failed to reload the configuration file$/);
  for (const id of workers.keys()) {
    const connected = nextLine(daemon, new RegExp(`LOG5\\[${id}\\.\\d+\\]: s_connect: connected 127\\.0\\.0\\.1:${second.port}$`));
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
