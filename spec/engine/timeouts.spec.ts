/**
 * TIMEOUTbusy, TIMEOUTidle and TIMEOUTclose at 1 second, with stunnel's lines.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { pki } from '../helpers/pki';
import { echoServer, startEngine, type RunningEngine } from '../helpers/config';

const p = pki();
let silent: Awaited<ReturnType<typeof echoServer>>;
let engine: RunningEngine;

before(async () => {
  silent = await echoServer();
  // A backend that reads but never answers nor closes: replace the echo behaviour.
  silent.server.removeAllListeners('connection');
  silent.server.on('connection', (socket) => { socket.on('error', () => {}); socket.resume(); });
  engine = await startEngine(`
    debug = 7
    TIMEOUTbusy = 1
    TIMEOUTidle = 1
    TIMEOUTclose = 1
    [timeouts]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${silent.port}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
});

after(async () => {
  await engine.engine.close();
  silent.server.close();
});

function idOfPort(port: number): string {
  return engine.log.lines.find((l) => l.text.endsWith(`accepted connection from 127.0.0.1:${port}`))!.id;
}

test('TIMEOUTbusy: a client that never handshakes is reset', { timeout: 10000 /* backstop */ }, async () => {
  const socket = netConnect(engine.ports[0], '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  const port = socket.localPort!;
  await new Promise((resolve) => socket.on('close', resolve));
  const id = idOfPort(port);
  const texts = engine.log.lines.filter((l) => l.id === id).map((l) => l.text);
  assert.ok(texts.includes('ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset'), texts.join('\n'));
  assert.ok(texts.includes('Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket'));
});

test('TIMEOUTidle: a silent tunnel is reset', { timeout: 10000 /* backstop */ }, async () => {
  const socket = tlsConnect({ port: engine.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  await once(socket, 'secureConnect');
  const port = socket.localPort!;
  socket.write('ping');
  const errors: string[] = [];
  socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? ''));
  await new Promise((resolve) => socket.on('close', resolve));
  assert.deepEqual(errors, ['ECONNRESET']);
  const id = idOfPort(port);
  const texts = engine.log.lines.filter((l) => l.id === id).map((l) => l.text);
  assert.ok(texts.includes('transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset'), texts.join('\n'));
  assert.ok(texts.includes('Connection reset: 0 byte(s) sent to TLS, 4 byte(s) sent to socket'), texts.join('\n'));
});

test('TIMEOUTclose: after the client half-closes, a backend that never closes is given 1 second', { timeout: 10000 /* backstop */ }, async () => {
  const socket = tlsConnect({ port: engine.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  await once(socket, 'secureConnect');
  const port = socket.localPort!;
  socket.on('error', () => {});
  socket.end('bye');
  socket.resume();
  await new Promise((resolve) => socket.on('close', resolve));
  const id = idOfPort(port);
  const line = engine.log.lines.find((l) => l.id === id && l.text.startsWith('transfer: s_poll_wait: TIMEOUTclose'));
  assert.equal(line?.text, 'transfer: s_poll_wait: TIMEOUTclose exceeded: closing');
  assert.ok(engine.log.lines.some((l) => l.id === id && l.text === 'Connection closed: 0 byte(s) sent to TLS, 3 byte(s) sent to socket'));
});
