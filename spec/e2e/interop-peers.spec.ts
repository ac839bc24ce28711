/**
 * Interoperability with real peers: Debian's stunnel 5.68 as client of our server mode
 * and as server for our client mode, curl as TLS client, `openssl s_server` as TLS server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFile, spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as netConnect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pki } from '../helpers/pki';
import { Running, tempDir, writeConf } from '../helpers/daemon';
import { peerPath, skipWithout } from '../helpers/peers';
import { echoServer, exchange, startEngine, type RunningEngine } from '../helpers/config';

const run = promisify(execFile);
const p = pki();
const dir = tempDir('stunnel-ts-interop-');
const children: Running[] = [];
const engines: RunningEngine[] = [];
let echo: Awaited<ReturnType<typeof echoServer>>;
let http: HttpServer;

function stunnel4(name: string, body: string): Running {
  const file = writeConf(dir, name, `foreground = yes\nsyslog = no\ndebug = 7\n${body}`);
  const running = new Running(spawn(peerPath('stunnel4'), [file], { stdio: ['ignore', 'ignore', 'pipe'] }));
  children.push(running);
  return running;
}

async function viaPlain(port: number, size: number) {
  const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  return exchange(socket, size);
}

before(async () => {
  echo = await echoServer();
  http = createHttpServer((_req, res) => res.end('hello over https\n'));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
});

after(async () => {
  for (const c of children) await c.stop();
  for (const e of engines) await e.engine.close();
  echo.server.close();
  http.close();
});

test('stunnel 5.68 client mode → our server mode (TLS 1.2 and 1.3)', { skip: skipWithout('stunnel4'), timeout: 20000 /* backstop */ }, async () => {
  const ours = await startEngine(`debug = 6\n[tls-in]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  engines.push(ours);
  for (const version of ['TLSv1.2', 'TLSv1.3']) {
    const theirs = stunnel4(`client-${version}.conf`, `[plain-in]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${ours.ports[0]}\nsslVersion = ${version}\nverifyChain = yes\nCAfile = ${p.caFile}\ncheckHost = localhost`);
    const result = await viaPlain(await theirs.port(), 1 << 20);
    assert.equal(result.received, result.sent);
    await theirs.waitFor(/TLS connected: new session negotiated/);
    await theirs.waitFor(new RegExp(`${version.replace('.', '\\.')} ciphersuite`));
  }
});

test('our client mode → stunnel 5.68 server mode, with session resumption', { skip: skipWithout('stunnel4'), timeout: 20000 /* backstop */ }, async () => {
  const theirs = stunnel4('server.conf', `[tls-in]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  const ours = await startEngine(`debug = 6\n[plain-in]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${await theirs.port()}\nverifyChain = yes\nCAfile = ${p.caFile}\ncheckHost = localhost`);
  engines.push(ours);
  for (let i = 0; i < 2; i++) {
    const result = await viaPlain(ours.ports[0], 256 << 10);
    assert.equal(result.received, result.sent);
  }
  await theirs.waitFor(/TLS accepted: previous session reused/);
  await ours.log.waitFor(/^TLS connected: previous session reused$/);
});

test('curl → our server mode → an HTTP backend', { skip: skipWithout('curl'), timeout: 20000 /* backstop */ }, async () => {
  const port = (http.address() as { port: number }).port;
  const ours = await startEngine(`debug = 6\n[https]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  engines.push(ours);
  const { stdout } = await run(peerPath('curl'), ['-sS', '--cacert', p.caFile, `https://localhost:${ours.ports[0]}/`]);
  assert.equal(stdout, 'hello over https\n');
});

test('our client mode → openssl s_server', { skip: skipWithout('openssl'), timeout: 20000 /* backstop */ }, async () => {
  const server = new Running(spawn(peerPath('openssl'), ['s_server', '-accept', '127.0.0.1:0', '-cert', p.serverCert, '-key', p.serverKey, '-rev'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  children.push(server);
  const port = Number((await server.waitFor(/^ACCEPT 127\.0\.0\.1:(\d+)$/))[1]);
  const ours = await startEngine(`debug = 6\n[rev]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\nverifyChain = yes\nCAfile = ${p.caFile}`);
  engines.push(ours);
  const socket = netConnect({ port: ours.ports[0], host: '127.0.0.1' });
  socket.setEncoding('utf8');
  socket.write('stunnel\n');
  const [reply] = await once(socket, 'data');
  assert.equal(reply, 'lennuts\n');
  socket.destroy();
});

test('stunnel 5.68 as PSK client of our server mode, and our PSK client mode to stunnel 5.68', { skip: skipWithout('stunnel4'), timeout: 20000 /* backstop */ }, async () => {
  const secrets = join(dir, 'psk.txt');
  writeFileSync(secrets, 'peer:0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
  const ours = await startEngine(`debug = 6\n[psk-in]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\nPSKsecrets = ${secrets}`);
  engines.push(ours);
  const theirs = stunnel4('psk-client.conf', `[psk-out]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${ours.ports[0]}\nPSKsecrets = ${secrets}`);
  const result = await viaPlain(await theirs.port(), 64 << 10);
  assert.equal(result.received, result.sent);
  await ours.log.waitFor(/^Key configured for PSK identity "peer"$/);

  const theirServer = stunnel4('psk-server.conf', `[psk-in]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\nPSKsecrets = ${secrets}`);
  const ourClient = await startEngine(`debug = 6\n[psk-out]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${await theirServer.port()}\nPSKsecrets = ${secrets}`);
  engines.push(ourClient);
  const back = await viaPlain(ourClient.ports[0], 64 << 10);
  assert.equal(back.received, back.sent);
  await theirServer.waitFor(/LOG5\[\d+\]: Key configured for PSK identity "peer"$/);
  await ourClient.log.waitFor(/^PSK client configured for identity "peer"$/);
});

test('openssl s_time -new: every connection ends "Connection closed", as with stunnel 5.68', { skip: skipWithout('openssl'), timeout: 20000 /* backstop */ }, async () => {
  const port = (http.address() as { port: number }).port;
  const verbose = await startEngine(`debug = 6\n[stime]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  engines.push(verbose);
  const child = spawn(peerPath('openssl'), ['s_time', '-connect', `127.0.0.1:${verbose.ports[0]}`, '-new', '-time', '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  await once(child, 'close');
  const made = Number(/(\d+) connections in [\d.]+s/.exec(out)?.[1] ?? 0);
  assert.ok(made > 10, out);
  const ends = () => verbose.log.texts().filter((t) => /^Connection [a-z/]+: /.test(t));
  await verbose.log.waitFor(/^Connection /);
  // Every connection s_time made has ended by the time it printed its summary, bar the last few in flight.
  const deadline = Date.now() + 10_000; // backstop
  while (ends().length < made) {
    assert.ok(Date.now() < deadline, `${ends().length} of ${made} connections ended`);
    await new Promise((r) => setImmediate(r));
  }
  const words = new Set(ends().map((t) => /^Connection ([a-z/]+):/.exec(t)![1]));
  assert.deepEqual([...words], ['closed']);
});
