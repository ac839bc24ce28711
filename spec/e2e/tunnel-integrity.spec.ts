/**
 * Integrity through a chain client mode → server mode → echo: 64 MB on one tunnel,
 * 100 × 1 MB concurrently, SHA-256 equal at both ends; and a slow reader whose tunnel
 * keeps the engines' buffered bytes bounded while the backend pushes 256 MB.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { pki } from '../helpers/pki';
import { echoServer, exchange, startEngine, type RunningEngine } from '../helpers/config';

const p = pki();
let echo: Awaited<ReturnType<typeof echoServer>>;
let server: RunningEngine;
let client: RunningEngine;

before(async () => {
  echo = await echoServer();
  server = await startEngine(`debug = 6\n[tls-in]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  client = await startEngine(`debug = 6\n[plain-in]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${server.ports[0]}\nverifyChain = yes\nCAfile = ${p.caFile}\ncheckHost = localhost`);
});

after(async () => {
  await client.engine.close();
  await server.engine.close();
  echo.server.close();
});

async function plainClient(port: number): Promise<Socket> {
  const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

test('64 MB each way through one chained tunnel', { timeout: 60000 /* backstop */ }, async () => {
  const result = await exchange(await plainClient(client.ports[0]), 64 << 20);
  assert.equal(result.receivedBytes, 64 << 20);
  assert.equal(result.received, result.sent);
});

test('100 concurrent chained tunnels, 1 MB each way each', { timeout: 60000 /* backstop */ }, async () => {
  const results = await Promise.all(Array.from({ length: 100 }, async () => exchange(await plainClient(client.ports[0]), 1 << 20)));
  for (const r of results) assert.equal(r.received, r.sent);
  assert.equal(client.engine.activeConnections().length <= 100, true);
});

test('a slow reader: the engines hold a bounded number of bytes while the backend pushes 256 MB', { timeout: 60000 /* backstop */ }, async () => {
  const total = 256 << 20;
  const block = Buffer.alloc(1 << 16, 7);
  const pusher: Server = createServer((socket) => {
    socket.on('error', () => {});
    let sent = 0;
    const push = (): void => {
      while (sent < total) {
        sent += block.length;
        if (!socket.write(block)) { socket.once('drain', push); return; }
      }
      socket.end();
    };
    push();
  });
  pusher.listen(0, '127.0.0.1');
  await once(pusher, 'listening');
  const port = (pusher.address() as { port: number }).port;
  const s = await startEngine(`debug = 6\n[push]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  const c = await startEngine(`debug = 6\n[pull]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${s.ports[0]}`);
  try {
    const reader = await plainClient(c.ports[0]);
    reader.pause();
    let received = 0;
    let maxHeld = 0;
    // A reader slower than the tunnels: a timer lets it take at most 128 KB per tick (about 100 MB/s).
    const ended = new Promise<void>((resolve) => reader.once('end', resolve));
    reader.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received % (128 << 10) < chunk.length) reader.pause();
    });
    const tick = setInterval(() => {
      maxHeld = Math.max(maxHeld, s.engine.bufferedBytes() + c.engine.bufferedBytes());
      reader.resume();
    }, 1);
    await ended;
    clearInterval(tick);
    assert.equal(received, total);
    // Two tunnels, four sockets: each holds at most about one high-water mark of each stream kind.
    assert.ok(maxHeld > 0, 'the engines were measured while data flowed');
    assert.ok(maxHeld < 4 << 20, `the engines held up to ${maxHeld} bytes`);
  } finally {
    await c.engine.close();
    await s.engine.close();
    pusher.close();
  }
});
