/**
 * @module spec/e2e/integrity-chain
 * Bytes through two stunnel-ts processes — client mode (plain → TLS) into server mode
 * (TLS → plain) into an echo backend — arrive intact: SHA-256 equal at the backend and
 * back at the client, for 100 concurrent 1 MB transfers and one 64 MB transfer each way.
 * (The 100 × 64 MB run is `node scripts/soak.mjs --full-integrity`.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Running } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import { backend, lineCount, serverSection, startDaemon, tcpClient, transfer, type Backend } from '../helpers/net';

let echo: Backend;
let server: Running;
let client: Running;
let entry: number;
const dirs: string[] = [];

before(async () => {
  const p = pki();
  echo = await backend();
  const s = await startDaemon(`debug = 6\nTIMEOUTclose = 1\n${serverSection('tls-in', echo.port, p)}`);
  server = s.daemon;
  dirs.push(s.dir);
  const c = await startDaemon(`debug = 6\nTIMEOUTclose = 1\n[plain-in]\nclient = yes\naccept = 127.0.0.1:0\n` +
    `connect = 127.0.0.1:${await server.port(0)}\nCAfile = ${p.caFile}\nverifyChain = yes\ncheckHost = localhost\n`);
  client = c.daemon;
  dirs.push(c.dir);
  entry = await client.port(0);
});

after(async () => {
  await client?.stop();
  await server?.stop();
  await echo?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One transfer through both proxies: what went in came out at the backend and back. */
async function throughChain(size: number): Promise<void> {
  const socket = await tcpClient(entry);
  const r = await transfer(socket, size);
  socket.destroy();
  assert.equal(r.receivedBytes, size);
  assert.equal(r.received, r.sent, 'the echo came back with the SHA-256 it left with');
  assert.ok(echo.receivedHashes.has(r.sent), 'the backend received exactly the bytes sent');
}

test('100 concurrent transfers of 1 MB each way through client mode → server mode → echo', { timeout: 60_000 }, async () => {
  await Promise.all(Array.from({ length: 100 }, () => throughChain(1 << 20)));
});

test('one transfer of 64 MB each way through both proxies', { timeout: 60_000 }, async () => {
  await throughChain(64 << 20);
});

test('both proxies logged a clean end for every connection', async () => {
  for (const daemon of [client, server]) {
    assert.equal(await lineCount(daemon, /LOG5\[\d+\]: Connection \S+:/, 101), 101);
    const ends = daemon.lines.filter((l) => /LOG5\[\d+\]: Connection \S+:/.test(l));
    assert.equal(ends.length, 101);
    assert.deepEqual(ends.filter((l) => !/Connection closed: /.test(l)), [], 'no reset among them');
  }
});
