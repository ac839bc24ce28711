/**
 * Server mode in process: TLS in, plain out. Bytes both ways with SHA-256, stunnel's
 * per-connection lines, backend refused, handshake failures with the client address.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { pki } from '../helpers/pki';
import { closedPort, echoServer, exchange, startEngine, type RunningEngine } from '../helpers/config';

const p = pki();
let echo: Awaited<ReturnType<typeof echoServer>>;
let tunnel: RunningEngine;
let refused: RunningEngine;

before(async () => {
  echo = await echoServer();
  tunnel = await startEngine(`
    debug = 7
    [tls-in]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${echo.port}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
  refused = await startEngine(`
    debug = 6
    [down]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${await closedPort()}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
});

after(async () => {
  await tunnel.engine.close();
  await refused.engine.close();
  echo.server.close();
});

function tlsClient(port: number, extra: object = {}): Promise<TLSSocket> {
  const socket = tlsConnect({ port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost', ...extra });
  return once(socket, 'secureConnect').then(() => socket);
}

test('bytes go through both ways and the connection logs stunnel\'s four LOG5 lines', async () => {
  const client = await tlsClient(tunnel.ports[0]);
  const result = await exchange(client, 1 << 20);
  assert.equal(result.received, result.sent);
  const line = await tunnel.log.waitFor(/^Connection closed:/);
  assert.equal(line.text, `Connection closed: ${1 << 20} byte(s) sent to TLS, ${1 << 20} byte(s) sent to socket`);
  const fives = tunnel.log.lines.filter((l) => l.id === line.id && l.level === 5).map((l) => l.text);
  assert.equal(fives.length, 4);
  assert.match(fives[0], /^Service \[tls-in\] accepted connection from 127\.0\.0\.1:\d+$/);
  assert.equal(fives[1], `s_connect: connected 127.0.0.1:${echo.port}`);
  assert.match(fives[2], /^Service \[tls-in\] connected remote server from 127\.0\.0\.1:\d+$/);
  const sixes = tunnel.log.lines.filter((l) => l.id === line.id && l.level === 6).map((l) => l.text);
  assert.ok(sixes.includes('TLS accepted: new session negotiated'), sixes.join('\n'));
  assert.ok(sixes.includes('TLSv1.3 ciphersuite: TLS_AES_256_GCM_SHA384 (256-bit encryption)'), sixes.join('\n'));
});

test('the bound-to line names the service, the fd and the real port', () => {
  const bound = tunnel.log.lines.find((l) => / bound to /.test(l.text))!;
  assert.equal(bound.level, 6);
  assert.equal(bound.id, 'ui');
  assert.match(bound.text, /^Service \[tls-in\] \(FD=\d+\) bound to 127\.0\.0\.1:\d+$/);
  assert.notEqual(tunnel.ports[0], 0);
});

test('a refused backend: the handshake completes, then stunnel\'s lines and a reset', async () => {
  const client = await tlsClient(refused.ports[0]);
  const [err] = await once(client, 'error');
  assert.equal((err as NodeJS.ErrnoException).code, 'ECONNRESET');
  await refused.log.waitFor(/^Connection reset:/);
  const texts = refused.log.texts();
  assert.ok(texts.some((t) => /^s_connect: connect 127\.0\.0\.1:\d+: Connection refused \(111\)$/.test(t)), texts.join('\n'));
  assert.ok(texts.includes('No more addresses to connect'));
  assert.ok(texts.includes('Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket'));
});

test('plain HTTP on the TLS port logs SSL_accept with the client address', async () => {
  const socket = netConnect(tunnel.ports[0], '127.0.0.1');
  await once(socket, 'connect');
  const port = socket.localPort;
  socket.on('error', () => {});
  socket.end('GET / HTTP/1.0\r\n\r\n');
  await once(socket, 'close');
  const line = await tunnel.log.waitFor(new RegExp(`^SSL_accept: .*http request \\(from 127\\.0\\.0\\.1:${port}\\)$`));
  assert.equal(line.level, 3);
  assert.match(line.text, /^SSL_accept: \S+ssl3_record\.c:\d+: error:0A00009C:SSL routines::http request/);
});
