/**
 * TIMEOUTclose measures silence after a half-close and never drops a byte the relay has
 * accepted, as stunnel 5.68 does (its poll timeout is re-armed at every event, and is
 * TIMEOUTidle while its buffers hold data):
 * - an answer still flowing after the client's half-close, longer than TIMEOUTclose in all,
 *   arrives whole;
 * - bytes held for a client that stops reading after its half-close are delivered when it
 *   reads again, not destroyed when TIMEOUTclose passes;
 * - a client that never reads again is reset after TIMEOUTidle;
 * - an answer that arrived while the event loop was starved past TIMEOUTclose is read, not
 *   cut: stunnel's poll reports ready sockets before a timeout, so the expiry waits for the
 *   loop turn's I/O.
 * (integrity-chain lost the tail of its echoes under load to a fixed TIMEOUTclose deadline.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { pki } from '../helpers/pki';
import { startEngine, type RunningEngine } from '../helpers/config';

const p = pki();
const TRICKLE = { chunk: 16384, count: 10, everyMs: 250 }; // 2.5 s of answer, never 1 s silent
const FLOOD = randomBytes(4 << 20); // far more than the socket buffers between engine and client
let servers: Server[] = [];
let engine: RunningEngine;

/** A backend that answers only once the client has half-closed, with `answer(socket)`. */
async function afterEof(answer: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.on('end', () => answer(socket));
    socket.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as { port: number }).port;
}

function trickle(socket: Socket): void {
  let sent = 0;
  const timer = setInterval(() => {
    socket.write(Buffer.alloc(TRICKLE.chunk, sent));
    if (++sent === TRICKLE.count) {
      clearInterval(timer);
      socket.end();
    }
  }, TRICKLE.everyMs);
  socket.on('close', () => clearInterval(timer));
}

/** Answers, then blocks this whole process (engine included) for 1.5 × TIMEOUTclose before its EOF. */
function answerThenStarve(socket: Socket): void {
  socket.write(Buffer.alloc(65536, 1)); // an empty write queue: libuv hands it to the kernel now
  const until = Date.now() + 1500;
  while (Date.now() < until) { /* a CPU hog holding the event loop */ }
  socket.end();
}

before(async () => {
  const trickling = await afterEof(trickle);
  const flooding = await afterEof((socket) => socket.end(FLOOD));
  const starving = await afterEof(answerThenStarve);
  engine = await startEngine(`
    debug = 7
    TIMEOUTclose = 1
    TIMEOUTidle = 4
    cert = ${p.serverCert}
    key = ${p.serverKey}
    [trickle]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${trickling}
    [flood]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${flooding}
    [starve]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${starving}
  `);
});

after(async () => {
  await engine.engine.close();
  for (const s of servers) s.close();
  servers = [];
});

/** A verified TLS client that sends 'go' and half-closes; `port` is its own (to find its log lines). */
async function halfClosedClient(port: number): Promise<{ socket: TLSSocket; port: number }> {
  const socket = tlsConnect({ port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost', allowHalfOpen: true } as ConnectionOptions);
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  socket.end('go');
  return { socket, port: socket.localPort! };
}

/** Reads to EOF: what came back (rejects on a close without EOF). */
function readAll(socket: TLSSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('close', () => reject(new Error(`closed without EOF after ${Buffer.concat(chunks).length} bytes`)));
  });
}

function linesOf(port: number): string[] {
  const id = engine.log.lines.find((l) => l.text.endsWith(`accepted connection from 127.0.0.1:${port}`))!.id;
  return engine.log.lines.filter((l) => l.id === id).map((l) => l.text);
}

async function ended(port: number): Promise<string[]> {
  while (!linesOf(port).some((t) => /^Connection (closed|reset)/.test(t))) await new Promise((r) => setTimeout(r, 20));
  return linesOf(port);
}

test('an answer still flowing after the client half-closed, longer than TIMEOUTclose in all, arrives whole', { timeout: 10000 /* backstop */ }, async () => {
  const { socket, port } = await halfClosedClient(engine.ports[0]);
  const got = await readAll(socket);
  const total = TRICKLE.chunk * TRICKLE.count;
  assert.equal(got.length, total);
  const texts = await ended(port);
  assert.ok(!texts.some((t) => t.includes('TIMEOUTclose')), texts.join('\n'));
  assert.ok(texts.includes(`Connection closed: ${total} byte(s) sent to TLS, 2 byte(s) sent to socket`), texts.join('\n'));
});

test('bytes held for a client that pauses reading past TIMEOUTclose are delivered, not dropped', { timeout: 10000 /* backstop */ }, async () => {
  const { socket, port } = await halfClosedClient(engine.ports[1]);
  socket.pause();
  // The slow reader: still paused when TIMEOUTclose (1 s) has passed, reading again before TIMEOUTidle (4 s).
  await new Promise((r) => setTimeout(r, 2000));
  const got = readAll(socket);
  socket.resume();
  const whole = await got;
  assert.equal(whole.length, FLOOD.length);
  assert.equal(createHash('sha256').update(whole).digest('hex'), createHash('sha256').update(FLOOD).digest('hex'));
  const texts = await ended(port);
  assert.ok(texts.includes(`Connection closed: ${FLOOD.length} byte(s) sent to TLS, 2 byte(s) sent to socket`), texts.join('\n'));
});

test('a client that never reads again after its half-close is reset after TIMEOUTidle', { timeout: 15000 /* backstop */ }, async () => {
  const { socket, port } = await halfClosedClient(engine.ports[1]);
  socket.pause();
  const started = Date.now();
  const texts = await ended(port);
  const ms = Date.now() - started;
  socket.destroy();
  assert.ok(texts.includes('transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset'), texts.join('\n'));
  assert.ok(texts.some((t) => t.startsWith('Connection reset: ')), texts.join('\n'));
  assert.ok(ms >= 3500, `reset after ${ms} ms, not after TIMEOUTidle`);
});

test('an answer that arrived while the event loop was starved past TIMEOUTclose is relayed, not cut', { timeout: 10000 /* backstop */ }, async () => {
  const { socket, port } = await halfClosedClient(engine.ports[2]);
  const got = await readAll(socket);
  assert.equal(got.length, 65536);
  const texts = await ended(port);
  assert.ok(!texts.some((t) => t.includes('TIMEOUTclose')), texts.join('\n'));
  assert.ok(texts.includes('Connection closed: 65536 byte(s) sent to TLS, 2 byte(s) sent to socket'), texts.join('\n'));
});
