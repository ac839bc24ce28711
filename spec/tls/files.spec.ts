/**
 * The TLS files a service can name, end to end: PSKsecrets (openssl s_client -psk, TLS 1.2
 * and 1.3; a wrong key refused), CRLfile (a revoked client certificate refused), CApath
 * (a hashed directory instead of CAfile), and a PKCS#12 `cert`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { pki } from '../helpers/pki';
import { tempDir } from '../helpers/daemon';
import { echoServer, startEngine, type RunningEngine } from '../helpers/config';
import { peerPath, skipWithout } from '../helpers/peers';

const run = promisify(execFile);
const p = pki();
const dir = tempDir('stunnel-ts-tlsfiles-');
const engines: RunningEngine[] = [];
let echo: Awaited<ReturnType<typeof echoServer>>;

before(async () => {
  echo = await echoServer();
});

after(async () => {
  for (const e of engines) await e.engine.close();
  echo.server.close();
});

async function engine(section: string, port = echo.port): Promise<RunningEngine> {
  const e = await startEngine(`debug = 7\n[svc]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\n${section}`);
  engines.push(e);
  return e;
}

/** openssl s_client with `input` on stdin; resolves with its stdout. Never blocks this process. */
function sClient(args: string[], input: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(peerPath('openssl'), ['s_client', '-quiet', ...args], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

/** One echo round trip with Node's TLS client; the reply, or the error code. */
async function roundTrip(port: number, options: ConnectionOptions): Promise<string> {
  const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ...options });
  socket.setEncoding('utf8');
  const closed = new Promise<string>((resolve) => {
    let reply = '';
    socket.on('data', (d: string) => { reply += d; });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    socket.on('end', () => resolve(reply));
  });
  socket.once('secureConnect', () => socket.end('hello'));
  return closed;
}

test('PSKsecrets: openssl s_client with the right key gets through over TLS 1.2 and 1.3, a wrong key does not', { skip: skipWithout('openssl'), timeout: 15000 /* backstop */ }, async () => {
  const secrets = join(dir, 'psk.txt');
  writeFileSync(secrets, 'client1:0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
  // s_client -quiet ignores its stdin's EOF: this backend answers once and closes, which ends it.
  const answerOnce = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (d: Buffer) => socket.end(d));
  });
  answerOnce.listen(0, '127.0.0.1');
  await once(answerOnce, 'listening');
  after(() => answerOnce.close());
  const e = await engine(`PSKsecrets = ${secrets}`, (answerOnce.address() as { port: number }).port);
  const target = ['-connect', `127.0.0.1:${e.ports[0]}`, '-psk_identity', 'client1'];
  for (const version of ['-tls1_2', '-tls1_3']) {
    const ok = await sClient([...target, '-psk', '0123456789abcdef0123456789abcdef', version], 'psk works\n');
    assert.equal(ok.out, 'psk works\n', version);
  }
  const bad = await sClient([...target, '-psk', 'ffffffffffffffffffffffffffffffff', '-tls1_2'], 'nope\n');
  assert.equal(bad.out, '');
  const texts = e.log.texts();
  assert.equal(texts.filter((t) => t === 'Key configured for PSK identity "client1"').length, 3);
  assert.ok(texts.some((t) => /^TLSv1\.2 ciphersuite: .*PSK/.test(t)), texts.join('\n'));
});

test('CRLfile: a revoked client certificate is refused, a good one accepted', { skip: skipWithout('openssl'), timeout: 15000 /* backstop */ }, async () => {
  const ca = join(dir, 'crl-ca');
  mkdirSync(ca);
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'crlnumber'), '01\n');
  writeFileSync(join(ca, 'ca.key'), p.ca.keyPem, { mode: 0o600 });
  writeFileSync(join(ca, 'ca.cnf'), `[ca]\ndefault_ca = own\n[own]\ndatabase = ${ca}/index.txt\ncrlnumber = ${ca}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n`);
  const common = ['-config', join(ca, 'ca.cnf'), '-keyfile', join(ca, 'ca.key'), '-cert', p.caFile];
  const crlFile = join(dir, 'empty.crl');
  await run(peerPath('openssl'), ['ca', ...common, '-gencrl', '-out', crlFile]);
  const clean = await engine(`cert = ${p.serverCert}\nkey = ${p.serverKey}\nverifyChain = yes\nCAfile = ${p.caFile}\nCRLfile = ${crlFile}`);
  const client = { ca: p.ca.certPem, cert: p.client.certPem, key: p.client.keyPem };
  assert.equal(await roundTrip(clean.ports[0], client), 'hello');
  await run(peerPath('openssl'), ['ca', ...common, '-revoke', p.clientCert]);
  const revokedFile = join(dir, 'revoked.crl');
  await run(peerPath('openssl'), ['ca', ...common, '-gencrl', '-out', revokedFile]);
  const strict = await engine(`cert = ${p.serverCert}\nkey = ${p.serverKey}\nverifyChain = yes\nCAfile = ${p.caFile}\nCRLfile = ${revokedFile}`);
  assert.notEqual(await roundTrip(strict.ports[0], client), 'hello');
  await strict.log.waitFor(/^CERT: Pre-verification error: certificate revoked$/);
  await strict.log.waitFor(/^Rejected by CERT at depth=0: CN=client$/);
});

test('CApath: a hashed directory of CA certificates verifies like CAfile', { skip: skipWithout('openssl'), timeout: 15000 /* backstop */ }, async () => {
  const caPath = join(dir, 'capath');
  mkdirSync(caPath);
  copyFileSync(p.caFile, join(caPath, 'test-ca.pem'));
  await run(peerPath('openssl'), ['rehash', caPath]);
  const e = await engine(`cert = ${p.serverCert}\nkey = ${p.serverKey}\nverifyChain = yes\nCApath = ${caPath}`);
  assert.equal(await roundTrip(e.ports[0], { ca: p.ca.certPem, cert: p.client.certPem, key: p.client.keyPem }), 'hello');
  await e.log.waitFor(/^Certificate accepted at depth=0: CN=client$/);
});

test('a PKCS#12 cert (.p12, no password) serves the certificate inside it', { skip: skipWithout('openssl'), timeout: 15000 /* backstop */ }, async () => {
  const p12 = join(dir, 'server.p12');
  await run(peerPath('openssl'), ['pkcs12', '-export', '-in', p.serverCert, '-inkey', p.serverKey, '-out', p12, '-passout', 'pass:']);
  const e = await engine(`cert = ${p12}`);
  const socket = tlsConnect({ port: e.ports[0], host: '127.0.0.1', servername: 'localhost', ca: p.ca.certPem });
  await once(socket, 'secureConnect');
  assert.equal(socket.getPeerX509Certificate()?.subject, 'CN=localhost');
  assert.equal(socket.authorized, true);
  socket.destroy();
});
