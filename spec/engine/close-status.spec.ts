/**
 * The close-status word of `Connection <status>:` as stunnel 5.68 writes it (observed with
 * /usr/bin/stunnel4): peer resets are normal ends; TLS failures the peer was told about
 * reset only the plain side (`reset/closed` in server mode, `closed/reset` in client mode);
 * bytes that are not TLS at all reset both.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { pki } from '../helpers/pki';
import { echoServer, startEngine, type RunningEngine } from '../helpers/config';

const p = pki();
let echo: Awaited<ReturnType<typeof echoServer>>;
let server: RunningEngine;
let strict: RunningEngine;
let client: RunningEngine;
let wrongCa: TlsServer;

before(async () => {
  echo = await echoServer();
  server = await startEngine(`debug = 7\n[srv]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  strict = await startEngine(`debug = 7\n[strict]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\nverifyChain = yes\nCAfile = ${p.caFile}`);
  wrongCa = createTlsServer({ cert: p.server.certPem, key: p.server.keyPem }, (s) => s.on('error', () => {}));
  wrongCa.listen(0, '127.0.0.1');
  await once(wrongCa, 'listening');
  const port = (wrongCa.address() as { port: number }).port;
  client = await startEngine(`debug = 7\n[cli]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\nverifyChain = yes\nCAfile = ${p.otherCaFile}`);
});

after(async () => {
  for (const e of [server, strict, client]) await e.engine.close();
  echo.server.close();
  wrongCa.close();
});

async function plain(port: number): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** A TLS client over a TCP socket of our own, so the test can reset it. */
async function tlsOverRaw(port: number): Promise<{ socket: ReturnType<typeof tlsConnect>; raw: Socket }> {
  const raw = await plain(port);
  const socket = tlsConnect({ socket: raw, ca: p.ca.certPem, servername: 'localhost' });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  return { socket, raw };
}

test('a TLS client that sends close_notify and then resets: Connection closed', async () => {
  const { socket, raw } = await tlsOverRaw(server.ports[0]);
  const port = raw.localPort!;
  socket.end();
  // What openssl s_time does: close_notify, then close with unread session tickets (a RST).
  await once(socket, 'finish');
  raw.resetAndDestroy();
  const texts = await server.log.connection(port);
  assert.equal(texts[texts.length - 1], 'Connection closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket', texts.join('\n'));
});

test('a TLS client that resets mid-transfer: TLS fd line, TLS socket closed, Connection closed', async () => {
  const { socket, raw } = await tlsOverRaw(server.ports[0]);
  const port = raw.localPort!;
  socket.write('ping');
  await once(socket, 'data');
  raw.resetAndDestroy();
  const texts = await server.log.connection(port);
  assert.deepEqual(texts.slice(-3), [
    'TLS fd: Connection reset by peer (104)',
    'TLS socket closed (SSL_read)',
    'Connection closed: 4 byte(s) sent to TLS, 4 byte(s) sent to socket',
  ]);
});

test('EOF before the handshake: unexpected eof, reset/closed', async () => {
  const socket = await plain(server.ports[0]);
  const port = socket.localPort!;
  socket.end();
  const texts = await server.log.connection(port);
  assert.ok(texts.includes(`SSL_accept: error:0A000126:SSL routines::unexpected eof while reading (from 127.0.0.1:${port})`), texts.join('\n'));
  assert.equal(texts[texts.length - 1], 'Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket');
});

test('plain HTTP on the TLS port: no alert to send, both sides reset', async () => {
  const socket = await plain(server.ports[0]);
  const port = socket.localPort!;
  socket.write('GET / HTTP/1.0\r\n\r\n');
  const closed = new Promise((resolve) => socket.on('close', resolve));
  const texts = await server.log.connection(port);
  assert.equal(texts[texts.length - 1], 'Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket');
  await closed;
});

test('server mode, required client certificate missing: reset/closed', async () => {
  const socket = tlsConnect({ port: strict.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const port = socket.localPort!;
  socket.resume();
  const texts = await strict.log.connection(port);
  assert.ok(texts.some((t) => /^SSL_accept: .*peer did not return a certificate \(from 127\.0\.0\.1:\d+\)$/.test(t)), texts.join('\n'));
  assert.equal(texts[texts.length - 1], 'Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket');
});

test('client mode, server certificate refused: closed/reset, the plain client is reset', async () => {
  const socket = await plain(client.ports[0]);
  const port = socket.localPort!;
  const errors: string[] = [];
  socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? ''));
  const closed = new Promise((resolve) => socket.on('close', resolve));
  const texts = await client.log.connection(port);
  assert.ok(texts.includes('SSL_connect: error:0A000086:SSL routines::certificate verify failed'), texts.join('\n'));
  assert.equal(texts[texts.length - 1], 'Connection closed/reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket');
  await closed;
  assert.deepEqual(errors, ['ECONNRESET']);
});
