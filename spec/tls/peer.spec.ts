/**
 * Peer verification, SNI and session resumption through a server-mode engine.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { pki } from '../helpers/pki';
import { echoServer, startEngine, type RunningEngine } from '../helpers/config';

const p = pki();
const engines: RunningEngine[] = [];
let echo: Awaited<ReturnType<typeof echoServer>>;
let other: Awaited<ReturnType<typeof echoServer>>;

before(async () => {
  echo = await echoServer();
  other = await echoServer();
});

after(async () => {
  for (const e of engines) await e.engine.close();
  echo.server.close();
  other.server.close();
});

async function engineWith(section: string): Promise<RunningEngine> {
  const running = await startEngine(`debug = 7\n[svc]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n${section}`);
  engines.push(running);
  return running;
}

/** Connects, sends `text`, returns the echo (or the error code when the tunnel refused us). */
async function roundTrip(port: number, options: ConnectionOptions = {}, text = 'hello'): Promise<{ reply: string; reused: boolean; peer: string | undefined }> {
  const socket = tlsConnect({ port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost', ...options });
  let reply = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => { reply += d; });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', (err: NodeJS.ErrnoException) => { reply = `error ${err.code}`; });
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused();
  const peer = socket.getPeerX509Certificate()?.subject;
  socket.end(text);
  await closed;
  return { reply, reused, peer };
}

test('mTLS: a client certificate signed by CAfile is accepted', { timeout: 10000 /* backstop */ }, async () => {
  const e = await engineWith(`verifyChain = yes\nCAfile = ${p.caFile}`);
  const r = await roundTrip(e.ports[0], { cert: p.client.certPem, key: p.client.keyPem });
  assert.equal(r.reply, 'hello');
  await e.log.waitFor(/^Certificate accepted at depth=0: CN=client$/);
});

test('mTLS: a client without a certificate is refused by OpenSSL in the handshake', { timeout: 10000 /* backstop */ }, async () => {
  const e = await engineWith(`verifyChain = yes\nCAfile = ${p.caFile}`);
  const socket = tlsConnect({ port: e.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  socket.on('error', () => {});
  socket.resume();
  await new Promise((resolve) => socket.on('close', resolve));
  const line = await e.log.waitFor(/^SSL_accept: /);
  assert.match(line.text, /error:0A0000C7:SSL routines::peer did not return a certificate \(from 127\.0\.0\.1:\d+\)$/);
});

test('verifyChain against the wrong CA rejects with stunnel\'s CERT lines; redirect sends it elsewhere', { timeout: 10000 /* backstop */ }, async () => {
  const refuse = await engineWith(`verifyChain = yes\nCAfile = ${p.otherCaFile}`);
  const r = await roundTrip(refuse.ports[0], { cert: p.client.certPem, key: p.client.keyPem });
  assert.notEqual(r.reply, 'hello');
  await refuse.log.waitFor(/^Rejected by CERT at depth=0: CN=client$/);
  assert.ok(refuse.log.texts().some((t) => t.startsWith('CERT: Pre-verification error: ')));

  other.server.removeAllListeners('connection');
  other.server.on('connection', (s) => { s.on('error', () => {}); s.end('redirected'); });
  const redirect = await engineWith(`verifyChain = yes\nCAfile = ${p.otherCaFile}\nredirect = 127.0.0.1:${other.port}`);
  const r2 = await roundTrip(redirect.ports[0], { cert: p.client.certPem, key: p.client.keyPem });
  assert.equal(r2.reply, 'redirected');
  await redirect.log.waitFor(/^Redirecting connection$/);
});

test('checkHost / checkEmail: one match accepts, none rejects', { timeout: 10000 /* backstop */ }, async () => {
  const ok = await engineWith(`verifyChain = yes\nCAfile = ${p.caFile}\ncheckEmail = client@example.test`);
  assert.equal((await roundTrip(ok.ports[0], { cert: p.client.certPem, key: p.client.keyPem })).reply, 'hello');
  const bad = await engineWith(`verifyChain = yes\nCAfile = ${p.caFile}\ncheckHost = elsewhere.example`);
  assert.notEqual((await roundTrip(bad.ports[0], { cert: p.client.certPem, key: p.client.keyPem })).reply, 'hello');
  await bad.log.waitFor(/^CERT: Subject checks failed$/);
});

test('session resumption: by ticket (TLS 1.2, 1.3) by default, by session id with options = NO_TICKET', { timeout: 10000 /* backstop */ }, async () => {
  const tickets = await engineWith('');
  const ids = await engineWith('options = NO_TICKET');
  for (const [e, maxVersion] of [[tickets, 'TLSv1.2'], [tickets, 'TLSv1.3'], [ids, 'TLSv1.2']] as const) {
    let session: Buffer | undefined;
    const byId = e === ids && maxVersion === 'TLSv1.2' ? { secureOptions: 16384 /* SSL_OP_NO_TICKET: resume by id */ } : {};
    const first = tlsConnect({ port: e.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost', maxVersion, ...byId });
    first.on('session', (s: Buffer) => { session = s; });
    first.resume();
    await once(first, 'secureConnect');
    first.end('x');
    await once(first, 'close');
    assert.ok(session, 'a session was issued');
    const second = await roundTrip(e.ports[0], { maxVersion, session, ...byId });
    assert.equal(second.reused, true, `${e === ids ? 'NO_TICKET' : 'tickets'} ${maxVersion}`);
  }
  // (TLS 1.3 with NO_TICKET would need stateful tickets, which Node's session events do not offer.)
  const reused = (e: RunningEngine) => e.log.texts().filter((t) => t === 'TLS accepted: previous session reused').length;
  assert.deepEqual([reused(tickets), reused(ids)], [2, 1]);
});

test('two engines with the same ticket secrets resume each other\'s tickets', { timeout: 10000 /* backstop */ }, async () => {
  const secrets = 'ticketKeySecret = 6c:e9:80:ae:d9:f5:41:3e:ad:5c:72:0c:79:3f:86:4e\nticketMacSecret = 8c:61:7c:1d:43:4b:ca:8a:30:4d:17:0a:57:44:13:30';
  const a = await engineWith(secrets);
  const b = await engineWith(secrets);
  let session: Buffer | undefined;
  const first = tlsConnect({ port: a.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  first.on('session', (s: Buffer) => { session = s; });
  first.resume();
  await once(first, 'secureConnect');
  first.end();
  await once(first, 'close');
  const second = await roundTrip(b.ports[0], { session });
  assert.equal(second.reused, true);
  await b.log.waitFor(/^TLS accepted: previous session reused$/);
});

test('server SNI: the secondary service\'s certificate and target are used for its names', { timeout: 10000 /* backstop */ }, async () => {
  other.server.removeAllListeners('connection');
  other.server.on('connection', (s) => { s.on('error', () => {}); s.end('virtual'); });
  const e = await startEngine(`debug = 7
    [primary]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${echo.port}
    cert = ${p.serverCert}
    key = ${p.serverKey}
    [virtual]
    sni = primary:*.virtual.test
    connect = 127.0.0.1:${other.port}
    cert = ${p.clientCert}
    key = ${p.clientKey}
  `);
  engines.push(e);
  const virtual = await roundTrip(e.ports[0], { servername: 'a.virtual.test', rejectUnauthorized: false });
  assert.equal(virtual.reply, 'virtual');
  assert.equal(virtual.peer, 'CN=client');
  await e.log.waitFor(/^SNI: switched to service \[virtual\]$/);
  const plain = await roundTrip(e.ports[0], { servername: 'localhost' });
  assert.equal(plain.reply, 'hello');
});
