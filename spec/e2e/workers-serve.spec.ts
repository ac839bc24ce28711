/**
 * `workers = 2`: both worker processes serve the shared listener with intact bytes and
 * ids unique across workers; a TLS 1.3 session ticket issued by one worker resumes on the
 * other (the primary hands both the same ticket keys); USR2 lists the connections of all
 * workers; the pid file holds the primary's pid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pki } from '../helpers/pki';
import type { Running } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { heldTransfer, procStatus } from '../process/harness';
import { nextLine } from '../helpers/net';
import { EchoBench, FOREGROUND } from '../process/echo-bench';
import { onlyWorker, servedBy, startedWorkers } from '../process/workers-harness';

const p = pki();
const bench = new EchoBench('stunnel-ts-workers-');
const pidFile = join(bench.dir, 'stunnel.pid');
let daemon: Running;
let port: number;
let workers: Map<number, number>;

bench.before(async () => {
  daemon = await bench.startForeground(bench.writeEchoConf('workers', `${FOREGROUND}\nworkers = 2\npid = ${pidFile}`));
  port = await daemon.port();
  workers = await startedWorkers(daemon, 2);
});

/** A TLS 1.3 client of the test CA, offering `session` when given. */
async function client(session?: Buffer): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: p.ca.certPem, servername: 'localhost', minVersion: 'TLSv1.3', session });
  await once(socket, 'secureConnect');
  return socket;
}

test('the pid file holds the primary, whose children are the two workers', () => {
  assert.equal(Number(readFileSync(pidFile, 'utf8')), daemon.child.pid);
  assert.equal(workers.size, 2);
  for (const pid of workers.values()) assert.equal(procStatus(pid, 'PPid'), String(daemon.child.pid));
});

test('each worker serves connections with intact bytes; ids carry the worker number', async () => {
  for (const id of workers.keys()) {
    await onlyWorker(workers, id, async () => {
      const socket = await client();
      assert.equal(await servedBy(daemon, socket), id);
      const result = await exchange(socket, 256 * 1024);
      assert.equal(result.received, result.sent);
    });
  }
  const ids = daemon.lines.map((l) => l.match(/LOG5\[(\d+\.\d+)\]: Service \[echo\] accepted connection/)?.[1]).filter(Boolean);
  assert.equal(new Set(ids).size, ids.length, `connection ids are unique: ${ids.join(' ')}`);
});

test('a TLS 1.3 ticket issued by one worker resumes the session on the other', async () => {
  const [first, second] = [...workers.keys()];
  const ticket = await onlyWorker(workers, first, async () => {
    const socket = await client();
    const session = once(socket, 'session');
    const result = await exchange(socket, 1024);
    assert.equal(result.received, result.sent);
    return (await session)[0] as Buffer;
  });
  await onlyWorker(workers, second, async () => {
    const socket = await client(ticket);
    assert.equal(await servedBy(daemon, socket), second);
    assert.equal(socket.isSessionReused(), true, 'the other worker accepted the ticket');
    const result = await exchange(socket, 1024);
    assert.equal(result.received, result.sent);
  });
});

test('USR2 lists the connections of every worker', async () => {
  const held = [];
  for (const id of workers.keys()) {
    held.push(await onlyWorker(workers, id, async () => heldTransfer(await client(), 4096)));
  }
  const listed = nextLine(daemon, /Listed \d+ active connection\(s\)$/);
  daemon.child.kill('SIGUSR2');
  assert.match(await listed, /LOG0\[ui\]: Listed 2 active connection\(s\)$/);
  for (const transfer of held) {
    const result = await transfer.finish();
    assert.equal(result.received, result.sent);
  }
});
