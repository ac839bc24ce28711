/**
 * @module spec/e2e/integrity-chain
 * Bytes through two stunnel-ts processes — client mode (plain → TLS) into server mode
 * (TLS → plain) into an echo backend — arrive intact: SHA-256 equal at the backend and
 * back at the client, for 100 concurrent 1 MB transfers and one 64 MB transfer each way.
 * (The 100 × 64 MB run is `node scripts/soak.mjs --full-integrity`.)
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Running } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import { backend, lineCount, serverSection, startDaemon, tcpClient, transfer, type Backend } from '../helpers/net';

interface Chain {
  readonly echo: Backend;
  readonly server: Running;
  readonly client: Running;
  /** The client-mode daemon's plain port: the way in. */
  readonly entry: number;
}

/** An echo backend behind server mode behind client mode, all stopped when the test ends. */
async function chain(t: TestContext): Promise<Chain> {
  const p = pki();
  const dirs: string[] = [];
  const running: Running[] = [];
  const echo = await backend();
  t.after(async () => {
    for (const daemon of running.reverse()) await daemon.stop();
    await echo.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  // TIMEOUTclose stays at its default (60 s). It is how long a silent peer is given after a
  // half-close, and on a loaded machine this echo (in the test process) can be silent for more
  // than a second after the client's EOF: stunnel 5.68 cuts those echoes at TIMEOUTclose = 1
  // too. Orderly ends never wait for it; the close timing itself is spec/engine/close-timeout.
  const s = await startDaemon(`debug = 6\n${serverSection('tls-in', echo.port, p)}`);
  running.push(s.daemon);
  dirs.push(s.dir);
  const c = await startDaemon(`debug = 6\n[plain-in]\nclient = yes\naccept = 127.0.0.1:0\n` +
    `connect = 127.0.0.1:${await s.daemon.port(0)}\nCAfile = ${p.caFile}\nverifyChain = yes\ncheckHost = localhost\n`);
  running.push(c.daemon);
  dirs.push(c.dir);
  return { echo, server: s.daemon, client: c.daemon, entry: await c.daemon.port(0) };
}

/** One transfer through both proxies: what went in came out at the backend and back. */
async function throughChain({ echo, entry }: Chain, size: number): Promise<void> {
  const socket = await tcpClient(entry);
  const r = await transfer(socket, size);
  socket.destroy();
  assert.equal(r.receivedBytes, size);
  assert.equal(r.received, r.sent, 'the echo came back with the SHA-256 it left with');
  assert.ok(echo.receivedHashes.has(r.sent), 'the backend received exactly the bytes sent');
}

/** Both proxies logged a clean end (`Connection closed`, no reset) for each of the `count` connections. */
async function assertCleanEnds({ client, server }: Chain, count: number): Promise<void> {
  for (const daemon of [client, server]) {
    assert.equal(await lineCount(daemon, /LOG5\[\d+\]: Connection \S+:/, count), count);
    const ends = daemon.lines.filter((l) => /LOG5\[\d+\]: Connection \S+:/.test(l));
    assert.equal(ends.length, count);
    assert.deepEqual(ends.filter((l) => !/Connection closed: /.test(l)), [], 'no reset among them');
  }
}

test('100 concurrent transfers of 1 MB each way through client mode → server mode → echo, each ended cleanly', { timeout: 60_000 }, async (t) => {
  const c = await chain(t);
  await Promise.all(Array.from({ length: 100 }, () => throughChain(c, 1 << 20)));
  await assertCleanEnds(c, 100);
});

test('one transfer of 64 MB each way through both proxies, ended cleanly', { timeout: 60_000 }, async (t) => {
  const c = await chain(t);
  await throughChain(c, 64 << 20);
  await assertCleanEnds(c, 1);
});
