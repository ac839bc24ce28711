/**
 * OCSP (`OCSP`, `OCSPaia`, `OCSPnonce`): the peer's certificate checked with `openssl ocsp`
 * as the responder (an index with a good and a revoked certificate; a third one it does
 * not know), in server mode (client certificates) and client mode (server certificates,
 * through their AIA URL). Every scenario runs against stunnel-ts and against stunnel 5.68
 * (stunnel4) on the same configuration, and both must write the same OCSP lines:
 * a revoked, unknown, unreachable, garbage-answering or silent responder rejects.
 * Responders live on 127.0.6.1; a small HTTP front routes /ok to openssl ocsp, /garbage
 * answers garbage, /huge 200 KiB, /silent never answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { issueCertificate, type Issued } from '../../lib/certs/selfsigned';
import { pki, type Pki } from '../helpers/pki';
import { Running, runStunnelTs, tempDir, writeConf } from '../helpers/daemon';
import { backend, nextLine, type Backend } from '../helpers/net';
import { closedPort } from '../helpers/config';
import { assertPeers, skipWithout } from '../helpers/peers';

const HOST = '127.0.6.1';
const skip = skipWithout('openssl', 'stunnel4');

interface Files { cert: string; key: string }

let p: Pki;
let dir: string;
let responder: Running;
let impostor: Running;
let front: HttpServer;
let frontPort = 0;
let echo: Backend;
let elsewhere: Backend;
const tlsServers: TlsServer[] = [];
const daemons: Running[] = [];
const files: Record<string, Files> = {};

function put(name: string, issued: Issued): Files {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, issued.certPem);
  writeFileSync(key, issued.keyPem, { mode: 0o600 });
  return { cert, key };
}

/** An index.txt line (openssl ca's database) for `issued`. */
function indexLine(issued: Issued, revoked: boolean): string {
  const cert = new X509Certificate(issued.certPem);
  const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  const expires = stamp(new Date(cert.validTo));
  const subject = `/${cert.subject.split('\n').join('/')}`;
  return [revoked ? 'R' : 'V', expires, revoked ? stamp(new Date(Date.now() - 60_000)) : '', cert.serialNumber, 'unknown', subject].join('\t');
}

/** The HTTP front: /ok goes to openssl ocsp, /garbage and /silent misbehave. */
function startFront(responderPort: (path: string) => number): Promise<void> {
  front = createHttpServer((req, res) => {
    if (req.url === '/silent') return;
    if (req.url === '/huge') {
      // A SEQUENCE header announcing 200 KiB, then the bytes, with their Content-Length.
      const body = Buffer.concat([Buffer.from([0x30, 0x83, 0x03, 0x1f, 0xfb]), Buffer.alloc(200 * 1024 - 5)]);
      res.writeHead(200, { 'Content-Type': 'application/ocsp-response', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    if (req.url === '/garbage') {
      res.writeHead(200, { 'Content-Type': 'application/ocsp-response' });
      res.end('this is not DER at all');
      return;
    }
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => {
      const payload = Buffer.concat(body);
      // openssl ocsp takes no chunked request: the body goes with its length.
      const upstream = httpRequest({
        host: '127.0.0.1', port: responderPort(req.url ?? ''), method: 'POST', path: '/',
        headers: { 'Content-Type': 'application/ocsp-request', 'Content-Length': payload.length },
      }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(payload);
    });
  });
  front.listen(0, HOST);
  return once(front, 'listening').then(() => { frontPort = (front.address() as AddressInfo).port; });
}

async function tlsEchoServer(identity: Files): Promise<number> {
  const server = createTlsServer({ cert: readFileSync(identity.cert), key: readFileSync(identity.key) }, (s) => s.pipe(s));
  server.on('tlsClientError', () => undefined);
  tlsServers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

before(async () => {
  if (skip) return;
  assertPeers('openssl', 'stunnel4');
  p = pki();
  dir = tempDir('stunnel-ts-ocsp-');
  let responderPort = 0;
  let impostorPort = 0;
  await startFront((path) => (path === '/impostor' ? impostorPort : responderPort));
  const url = `http://${HOST}:${frontPort}/ok`;
  const ca = p.ca;
  const issued = {
    responder: issueCertificate({ commonName: 'OCSP responder', issuer: ca, ocspSigning: true }),
    impostor: issueCertificate({ commonName: 'OCSP impostor', ocspSigning: true }),
    good: issueCertificate({ commonName: 'good client', issuer: ca, ocspUrls: [url] }),
    revoked: issueCertificate({ commonName: 'revoked client', issuer: ca, ocspUrls: [url] }),
    unknown: issueCertificate({ commonName: 'unknown client', issuer: ca, ocspUrls: [url] }),
    goodServer: issueCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], issuer: ca, ocspUrls: [url] }),
    intermediate: issueCertificate({ commonName: 'intermediate CA', isCA: true, issuer: ca }),
    revokedServer: issueCertificate({ commonName: 'revoked server', ipAddresses: ['127.0.0.1'], issuer: ca, ocspUrls: [url] }),
  };
  // A leaf under the intermediate: its responder (ours, for the root CA) may not answer for it.
  const underIntermediate = issueCertificate({ commonName: 'under intermediate', issuer: issued.intermediate });
  for (const [name, value] of Object.entries(issued)) files[name] = put(name, value);
  files.underIntermediate = put('under-intermediate', { ...underIntermediate, certPem: underIntermediate.certPem + issued.intermediate.certPem });
  const index = join(dir, 'index.txt');
  writeFileSync(index, [
    indexLine(issued.good, false), indexLine(issued.revoked, true),
    indexLine(issued.goodServer, false), indexLine(issued.revokedServer, true), indexLine(issued.intermediate, false), '',
  ].join('\n'));
  responder = new Running(spawn('openssl', [
    'ocsp', '-index', index, '-port', '0', '-rsigner', files.responder.cert, '-rkey', files.responder.key,
    '-CA', p.caFile, '-ignore_err',
  ], { stdio: ['ignore', 'pipe', 'pipe'] }));
  responderPort = Number((await responder.waitFor(/ACCEPT .*:(\d+) /))[1]);
  // The same index, answered by a responder whose certificate no CA of ours issued.
  impostor = new Running(spawn('openssl', [
    'ocsp', '-index', index, '-port', '0', '-rsigner', files.impostor.cert, '-rkey', files.impostor.key,
    '-CA', p.caFile, '-ignore_err',
  ], { stdio: ['ignore', 'pipe', 'pipe'] }));
  impostorPort = Number((await impostor.waitFor(/ACCEPT .*:(\d+) /))[1]);
  echo = await backend();
  elsewhere = await backend((socket) => socket.end('redirected'));
});

after(async () => {
  for (const d of daemons) await d.stop();
  await responder?.stop();
  await impostor?.stop();
  for (const s of tlsServers) s.close();
  front?.closeAllConnections();
  front?.close();
  await echo?.close();
  await elsewhere?.close();
});

/** The configuration both implementations run; sections in this order (ports by index). */
async function configuration(): Promise<string> {
  const down = await closedPort();
  const server = (name: string, extra: string) => `[${name}]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${echo.port}\n`
    + `cert = ${p.serverCert}\nkey = ${p.serverKey}\nCAfile = ${p.caFile}\nverifyChain = yes\n${extra}\n`;
  const client = async (name: string, identity: Files) => `[${name}]\nclient = yes\naccept = 127.0.0.1:0\n`
    + `connect = 127.0.0.1:${await tlsEchoServer(identity)}\nCAfile = ${p.caFile}\nverifyChain = yes\nOCSPaia = yes\n`;
  return 'foreground = yes\nsyslog = no\npid =\ndebug = 6\n'
    + server('url', `OCSP = http://${HOST}:${frontPort}/ok`)
    + server('aia-nonce', 'OCSPaia = yes\nOCSPnonce = yes')
    + server('down', `OCSP = http://${HOST}:${down}/`)
    + server('garbage', `OCSP = http://${HOST}:${frontPort}/garbage`)
    + server('silent', `OCSP = http://${HOST}:${frontPort}/silent\nTIMEOUTbusy = 1`)
    + server('redirect', `OCSP = http://${HOST}:${frontPort}/ok\nredirect = 127.0.0.1:${elsewhere.port}`)
    + server('huge', `OCSP = http://${HOST}:${frontPort}/huge`)
    + server('impostor', `OCSP = http://${HOST}:${frontPort}/impostor`)
    + await client('client-good', files.goodServer)
    + await client('client-revoked', files.revokedServer);
}
const SECTIONS = ['url', 'aia-nonce', 'down', 'garbage', 'silent', 'redirect', 'huge', 'impostor', 'client-good', 'client-revoked'] as const;

/** Connects with a client certificate (server sections) or in plain TCP (client sections); what came back. */
function converse(port: number, identity: Files | null, resume?: { session?: Buffer; reused?: boolean }): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => { got += d.toString(); if (got === 'ping') socket.end(); };
    const socket = identity
      ? tlsConnect({
        host: '127.0.0.1', port, cert: readFileSync(identity.cert), key: readFileSync(identity.key), rejectUnauthorized: false,
        ...(resume ? { maxVersion: 'TLSv1.2', session: resume.session } : {}),
      })
      : netConnect({ host: '127.0.0.1', port });
    if (resume && 'getSession' in socket) {
      socket.once('secureConnect', () => { resume.reused = socket.isSessionReused(); });
      socket.once('session', (session: Buffer) => { resume.session = session; });
    }
    socket.once(identity ? 'secureConnect' : 'connect', () => socket.write('ping'));
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
  });
}

/** The OCSP lines one connection wrote, without timestamps and connection ids; times masked. */
async function ocspLines(daemon: Running, run: () => Promise<string>): Promise<{ echoed: string; lines: string[] }> {
  const from = daemon.lines.length;
  const ended = nextLine(daemon, /Connection (closed|reset)/, 15_000);
  const echoed = await run();
  await ended;
  const lines = daemon.lines.slice(from)
    .filter((l) => /OCSP: (Connecting|Status|This update|Next update|Cert|Unknown|Revoked|Responder|OCSP_|s_poll)|Rejected by OCSP|Certificate accepted at depth=0|s_connect: connect .*refused/.test(l))
    .map((l) => l.replace(/^.*?(LOG\d)\[[^\]]*\]: /, '$1 ').replace(/(This update|Revoked at): .*/, '$1: T')
      .replace(/:\d+\//, ':PORT/').replace(/connect [\d.]+:\d+:/, 'connect ADDR:')
      // stunnel prints where in OpenSSL an error was raised; stunnel-ts has no such place to name.
      .replace(/ \.\.\/[\w/.]+:\d+:/, ''));
  return { echoed, lines };
}

async function start(implementation: 'stunnel-ts' | 'stunnel4'): Promise<{ daemon: Running; ports: Record<string, number> }> {
  const file = writeConf(tempDir('stunnel-ts-ocsp-conf-'), 'stunnel.conf', await configuration());
  const daemon = implementation === 'stunnel-ts'
    ? runStunnelTs([file])
    : new Running(spawn('stunnel4', [file], { stdio: ['ignore', 'pipe', 'pipe'] }));
  daemons.push(daemon);
  const ports: Record<string, number> = {};
  for (const [n, name] of SECTIONS.entries()) ports[name] = await daemon.port(n);
  return { daemon, ports };
}

const ACCEPTED = (cn: string, how = 'the configured responder "http://127.0.6.1:PORT/ok"') => [
  `LOG5 OCSP: Connecting ${how}`, 'LOG6 OCSP: Status: good', 'LOG6 OCSP: This update: T',
  'LOG5 OCSP: Certificate accepted', `LOG5 Certificate accepted at depth=0: CN=${cn}`,
];

for (const implementation of ['stunnel-ts', 'stunnel4'] as const) {
  describe(`OCSP checks of the peer certificate (${implementation})`, { skip }, () => {
    let daemon: Running;
    let ports: Record<string, number>;
    before(async () => { ({ daemon, ports } = await start(implementation)); });

    it('server mode, OCSP = URL: a good client certificate passes, bytes go through', async () => {
      const got = await ocspLines(daemon, () => converse(ports.url, files.good));
      assert.equal(got.echoed, 'ping');
      assert.deepEqual(got.lines, ACCEPTED('good client'));
    });

    it('server mode: a revoked client certificate is refused with stunnel\'s lines', async () => {
      const got = await ocspLines(daemon, () => converse(ports.url, files.revoked));
      assert.equal(got.echoed, '');
      assert.deepEqual(got.lines, [
        'LOG5 OCSP: Connecting the configured responder "http://127.0.6.1:PORT/ok"', 'LOG6 OCSP: Status: revoked',
        'LOG6 OCSP: This update: T', 'LOG3 OCSP: Certificate revoked', 'LOG5 OCSP: Revoked at: T',
        'LOG4 Rejected by OCSP at depth=0: CN=revoked client',
      ]);
    });

    it('server mode: a certificate the responder does not know is refused', async () => {
      const got = await ocspLines(daemon, () => converse(ports.url, files.unknown));
      assert.equal(got.echoed, '');
      assert.deepEqual(got.lines, [
        'LOG5 OCSP: Connecting the configured responder "http://127.0.6.1:PORT/ok"', 'LOG6 OCSP: Status: unknown',
        'LOG6 OCSP: This update: T', 'LOG4 OCSP: Unknown verification status',
        'LOG4 Rejected by OCSP at depth=0: CN=unknown client',
      ]);
    });

    it('server mode, OCSPaia + OCSPnonce: the AIA responder is asked, good passes and revoked is refused', async () => {
      const good = await ocspLines(daemon, () => converse(ports['aia-nonce'], files.good));
      assert.equal(good.echoed, 'ping');
      assert.deepEqual(good.lines, ACCEPTED('good client', 'the AIA responder "http://127.0.6.1:PORT/ok"'));
      const revoked = await ocspLines(daemon, () => converse(ports['aia-nonce'], files.revoked));
      assert.equal(revoked.echoed, '');
      assert.ok(revoked.lines.includes('LOG3 OCSP: Certificate revoked'), revoked.lines.join('\n'));
      assert.equal(revoked.lines.at(-1), 'LOG4 Rejected by OCSP at depth=0: CN=revoked client');
    });

    /** A good client certificate refused after `failure`, the line saying why the responder's answer did not count. */
    async function refusedAfter(section: string, failure: string): Promise<void> {
      const got = await ocspLines(daemon, () => converse(ports[section], files.good));
      assert.equal(got.echoed, '');
      assert.deepEqual(got.lines.slice(1), [failure, 'LOG4 Rejected by OCSP at depth=0: CN=good client'], got.lines.join('\n'));
    }

    it('a responder that is down rejects', () => refusedAfter('down', 'LOG3 s_connect: connect ADDR: Connection refused (111)'));

    it('a responder that answers garbage rejects', () => refusedAfter('garbage',
      'LOG3 OCSP: OCSP_sendreq_nbio: error:1E80006E:HTTP routines::missing asn1 encoding'));

    it('a client refused by OCSP goes to redirect', async () => {
      const revoked = await ocspLines(daemon, () => converse(ports.redirect, files.revoked));
      assert.equal(revoked.echoed, 'redirected');
      assert.equal(revoked.lines.at(-1), 'LOG4 Rejected by OCSP at depth=0: CN=revoked client');
      const good = await ocspLines(daemon, () => converse(ports.redirect, files.good));
      assert.equal(good.echoed, 'ping');
    });

    it('a response over 100 KiB rejects', () => refusedAfter('huge',
      'LOG3 OCSP: OCSP_sendreq_nbio: error:1E800075:HTTP routines::max resp len exceeded'));

    it('a responder that never answers rejects after TIMEOUTbusy', () => refusedAfter('silent',
      'LOG6 OCSP: s_poll_wait: TIMEOUTbusy exceeded'));

    it('a response signed by a certificate no trusted CA issued rejects', () => refusedAfter('impostor',
      'LOG3 OCSP: OCSP_basic_verify: error:13800065:OCSP routines::certificate verify error'));

    it('every certificate of the chain but the root is checked, from the top down', async () => {
      const got = await ocspLines(daemon, () => converse(ports.url, files.underIntermediate));
      assert.equal(got.echoed, '');
      const connecting = 'LOG5 OCSP: Connecting the configured responder "http://127.0.6.1:PORT/ok"';
      assert.deepEqual(got.lines, [
        connecting, 'LOG6 OCSP: Status: good', 'LOG6 OCSP: This update: T', 'LOG5 OCSP: Certificate accepted', connecting,
        'LOG3 OCSP: OCSP_basic_verify: error:13800070:OCSP routines::root ca not trusted',
        'LOG4 Rejected by OCSP at depth=0: CN=under intermediate',
      ]);
    });

    it('a resumed session is not checked again', async () => {
      const resume: { session?: Buffer; reused?: boolean } = {};
      const first = await ocspLines(daemon, () => converse(ports.url, files.good, resume));
      assert.equal(first.echoed, 'ping');
      assert.equal(first.lines.at(-1), 'LOG5 Certificate accepted at depth=0: CN=good client');
      assert.ok(resume.session, 'a session to resume');
      const again = await ocspLines(daemon, () => converse(ports.url, files.good, resume));
      assert.equal(resume.reused, true);
      assert.equal(again.echoed, 'ping');
      assert.deepEqual(again.lines, []);
    });

    it('client mode, OCSPaia: a good server certificate passes, a revoked one is refused', async () => {
      const good = await ocspLines(daemon, () => converse(ports['client-good'], null));
      assert.equal(good.echoed, 'ping');
      assert.deepEqual(good.lines, ACCEPTED('localhost', 'the AIA responder "http://127.0.6.1:PORT/ok"'), daemon.lines.slice(-25).join('\n'));
      const revoked = await ocspLines(daemon, () => converse(ports['client-revoked'], null));
      assert.equal(revoked.echoed, '');
      assert.equal(revoked.lines.at(-1), 'LOG4 Rejected by OCSP at depth=0: CN=revoked server');
      assert.ok(revoked.lines.includes('LOG3 OCSP: Certificate revoked'), revoked.lines.join('\n'));
    });
  });
}
