/**
 * `workers = 2` with a Unix-socket `accept`: the primary removes a stale file at the path,
 * binds once, and both workers serve the socket; a reload keeps the socket file (a worker
 * removing it would cut the others off); TERM removes it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, lstatSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pki } from '../helpers/pki';
import { runStunnelTs, tempDir, writeConf, type Running } from '../helpers/daemon';
import { echoServer, exchange } from '../helpers/config';
import { nextLine } from '../helpers/net';
import { onlyWorker, startedWorkers } from '../process/workers-harness';

const p = pki();
const dir = tempDir('stunnel-ts-workers-unix-');
const socketPath = join(dir, 'tls.sock');
let echo: Awaited<ReturnType<typeof echoServer>>;
let daemon: Running;
let workers: Map<number, number>;

before(async () => {
  echo = await echoServer();
  // What a crashed earlier run leaves behind: a file at the path makes a plain bind fail.
  writeFileSync(socketPath, 'stale');
  const conf = writeConf(dir, 'workers-unix.conf', `
    foreground = yes
    syslog = no
    debug = 6
    workers = 2
    [unix]
    accept = ${socketPath}
    connect = 127.0.0.1:${echo.port}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
  daemon = runStunnelTs([conf]);
  await daemon.waitFor(/Accepting new connections/);
  workers = await startedWorkers(daemon, 2);
});
after(async () => {
  await daemon.stop();
  echo.server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function unixClient(): Promise<TLSSocket> {
  const socket = tlsConnect({ path: socketPath, ca: p.ca.certPem, servername: 'localhost' });
  await once(socket, 'secureConnect');
  return socket;
}

/** A 64 KiB round trip through the socket while only worker `id` accepts; resolves with its close line. */
async function roundTripThrough(id: number): Promise<string> {
  return onlyWorker(workers, id, async () => {
    const closed = nextLine(daemon, new RegExp(`LOG5\\[${id}\\.\\d+\\]: Connection closed: 65536 byte\\(s\\) sent to TLS, 65536 byte\\(s\\) sent to socket$`));
    const result = await exchange(await unixClient(), 65536);
    assert.equal(result.received, result.sent);
    return closed;
  });
}

test('the stale file is replaced by the socket, and each of the two workers serves it', async () => {
  assert.ok(lstatSync(socketPath).isSocket(), 'a socket at the path');
  assert.equal(workers.size, 2);
  for (const id of workers.keys()) assert.ok(await roundTripThrough(id));
  assert.ok(!daemon.lines.some((l) => /not supported with a Unix socket/.test(l)), 'no fallback to one process');
});

test('a reload keeps the socket: both workers still serve it', async () => {
  process.kill(daemon.child.pid!, 'SIGHUP');
  await nextLine(daemon, /LOG5\[ui\]: Configuration successful$/);
  assert.ok(lstatSync(socketPath).isSocket(), 'the socket file is still there');
  for (const id of workers.keys()) assert.ok(await roundTripThrough(id));
});

test('TERM removes the socket file', async () => {
  await daemon.stop();
  assert.equal((await daemon.exited).code, 0);
  assert.equal(existsSync(socketPath), false);
});
