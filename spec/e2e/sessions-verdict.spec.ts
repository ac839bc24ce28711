/**
 * A resumed TLS session carries the verdict it was made with (issue #16 items 1, 2, 7; #12.4).
 *
 *   client mode: a server whose certificate was rejected is rejected again on the next
 *                connection (its session is never kept), and a resumed accepted session is
 *                judged again with the same outcome
 *   server mode: a client redirected for its missing certificate is resumed
 *                (`TLS accepted: previous session reused`) and redirected again, TLS 1.2 and 1.3
 *                (stunnel's upstream tests 181/182); a client with a good certificate resumes
 *                onto the real backend
 *   reload:      a session taken before `verifyChain` was added does not resume after SIGHUP,
 *                in one process and with `workers`
 *
 * Peers: openssl s_client (-sess_out/-sess_in) and a Node TLS server as the attacker.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tcpConnect } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { issueCertificate } from '../../lib/certs/selfsigned';
import { pki } from '../helpers/pki';
import { backend, lineCount, runClosedStdin, startDaemon, TEST_GLOBALS, type Backend } from '../helpers/net';
import { runStunnelTs, tempDir, type Running } from '../helpers/daemon';
import { assertPeers, skipWithout } from '../helpers/peers';

const p = pki();
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const clean of cleanups.reverse()) await clean();
});

/** A backend that answers every connection with `backend=TAG` and closes. */
async function tagged(tag: string): Promise<Backend> {
  const b = await backend((s) => s.end(`backend=${tag}\n`));
  cleanups.push(() => b.close());
  return b;
}

async function daemonOf(body: string): Promise<{ daemon: Running; port: number; dir: string }> {
  const { daemon, dir } = await startDaemon(body);
  cleanups.push(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { daemon, dir, port: await daemon.port(0) };
}

interface Visit {
  readonly reused: boolean;
  readonly reached: 'REAL' | 'HONEY' | 'none';
}

/** One `openssl s_client` connection: `-sess_out` on the first, `-sess_in` afterwards. */
async function visit(port: number, sessionFile: string, first: boolean, extra: string[]): Promise<Visit> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-ign_eof', first ? '-sess_out' : '-sess_in', sessionFile, ...extra];
  const { out, hung } = await runClosedStdin('openssl', args);
  assert.equal(hung, false, out);
  // stdout and stderr interleave: the answer need not start a line.
  const reached = /backend=REAL\b/.test(out) ? 'REAL' : /backend=HONEY\b/.test(out) ? 'HONEY' : 'none';
  return { reused: /^Reused, /m.test(out), reached };
}

const CLIENT_CERT = ['-cert', p.clientCert, '-key', p.clientKey];

/** A service that verifies client certificates: accepted ones reach REAL, the rest are redirected to HONEY. */
async function redirectingDaemon(): Promise<{ daemon: Running; port: number; file: string }> {
  const real = await tagged('REAL');
  const honey = await tagged('HONEY');
  const { daemon, dir } = await daemonOf(`debug = 6\n[redir]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${real.port}\n` +
    `redirect = 127.0.0.1:${honey.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\nverifyChain = yes\nCAfile = ${p.caFile}\n`);
  return { daemon, port: await daemon.port(0), file: join(dir, 'session.pem') };
}

describe('server mode: redirect survives resumption (upstream 181/182)', { skip: skipWithout('openssl') }, () => {
  for (const version of ['-tls1_2', '-tls1_3']) {
    test(`${version}: no certificate → redirected, resumed and redirected again`, async () => {
      assertPeers('openssl');
      const { daemon, port, file } = await redirectingDaemon();
      const visits = [await visit(port, file, true, [version])];
      visits.push(await visit(port, file, false, [version]));
      visits.push(await visit(port, file, false, [version]));
      assert.deepEqual(visits, [
        { reused: false, reached: 'HONEY' }, { reused: true, reached: 'HONEY' }, { reused: true, reached: 'HONEY' },
      ]);
      assert.equal(await lineCount(daemon, /LOG6\[\d+\]: TLS accepted: previous session reused$/, 2), 2);
      assert.equal(await lineCount(daemon, /LOG5\[\d+\]: Redirecting connection$/, 3), 3);
    });

    test(`${version}: a good certificate resumes onto the real backend, judged again`, async () => {
      assertPeers('openssl');
      const { daemon, port, file } = await redirectingDaemon();
      const visits = [await visit(port, file, true, [version, ...CLIENT_CERT])];
      visits.push(await visit(port, file, false, [version, ...CLIENT_CERT]));
      assert.deepEqual(visits, [{ reused: false, reached: 'REAL' }, { reused: true, reached: 'REAL' }]);
      assert.equal(await lineCount(daemon, /LOG5\[\d+\]: Certificate accepted at depth=0: CN=client$/, 2), 2);
      assert.equal(await lineCount(daemon, /Redirecting connection$/, 1, 200), 0);
    });
  }
});

/** A TLS 1.2 server that records, per connection, the plaintext it received. */
async function attacker(cert: { certPem: string; keyPem: string }): Promise<{ server: TlsServer; port: number; received: string[]; closed(n: number): Promise<void> }> {
  const received: string[] = [];
  let waiters: Array<() => void> = [];
  const server = createTlsServer({ cert: cert.certPem, key: cert.keyPem, maxVersion: 'TLSv1.2' }, (socket: TLSSocket) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      received.push(text);
      const w = waiters;
      waiters = [];
      w.forEach((wake) => wake());
    });
    socket.on('end', () => socket.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const closed = async (n: number) => {
    while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { server, port: (server.address() as { port: number }).port, received, closed };
}

/** One plain request through the client-mode tunnel; resolves when the tunnel closes it. */
async function request(port: number): Promise<void> {
  const socket = tcpConnect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  await once(socket, 'connect');
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.end('GET /account HTTP/1.1\r\nCookie: session=abc123\r\n\r\n');
  await closed;
}

function clientSection(connectPort: number): string {
  return `debug = 6\n[out]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${connectPort}\n` +
    `verifyChain = yes\nCAfile = ${p.caFile}\ncheckHost = localhost\n`;
}

describe('client mode: a rejected server stays rejected', () => {
  test('a self-signed attacker is refused on every connection and never gets the request', async () => {
    const evil = await attacker(issueCertificate({ commonName: 'localhost', dnsNames: ['localhost'] }));
    const { daemon, port } = await daemonOf(clientSection(evil.port));
    for (let i = 1; i <= 3; i++) {
      await request(port);
      assert.equal(await lineCount(daemon, /LOG3\[\d+\]: SSL_connect: error:0A000086:SSL routines::certificate verify failed$/, i), i);
    }
    await evil.closed(3);
    assert.deepEqual(evil.received, ['', '', '']);
    assert.equal(await lineCount(daemon, /LOG4\[\d+\]: Rejected by CERT at depth=0: CN=localhost$/, 3), 3);
    assert.equal(await lineCount(daemon, /previous session reused/, 1, 200), 0);
  });

  test('an accepted server is resumed: the session carries its verdict', async () => {
    const good = await attacker({ certPem: p.server.certPem, keyPem: p.server.keyPem });
    const { daemon, port } = await daemonOf(clientSection(good.port));
    await request(port);
    await good.closed(1);
    await request(port);
    await good.closed(2);
    assert.match(good.received[1], /Cookie: session=abc123/);
    assert.equal(await lineCount(daemon, /LOG6\[\d+\]: TLS connected: previous session reused$/, 1), 1);
    assert.equal(await lineCount(daemon, /LOG5\[\d+\]: Certificate accepted at depth=0: CN=localhost$/, 1), 1);
  });
});

describe('reload: sessions are bound to the verification settings', { skip: skipWithout('openssl') }, () => {
  for (const workers of ['', 'workers = 2\n']) {
    for (const version of ['-tls1_2', '-tls1_3']) {
      test(`${workers ? 'workers' : 'one process'} ${version}: a session from before verifyChain is not resumed`, async () => {
        assertPeers('openssl');
        const real = await tagged('REAL');
        const honey = await tagged('HONEY');
        const dir = tempDir('stunnel-ts-sessions-');
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        const conf = join(dir, 'stunnel.conf');
        const section = `[svc]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${real.port}\n` +
          `cert = ${p.serverCert}\nkey = ${p.serverKey}\n`;
        writeFileSync(conf, `${TEST_GLOBALS}debug = 6\n${workers}${section}`);
        const daemon = runStunnelTs([conf]);
        cleanups.push(() => daemon.stop());
        const port = await daemon.port(0);
        // A worker prints `bound to` before the others are ready; a HUP before then is not acted on.
        await daemon.waitFor(/Accepting new connections$/);
        const file = join(dir, 'session.pem');
        assert.deepEqual(await visit(port, file, true, [version]), { reused: false, reached: 'REAL' });
        writeFileSync(conf, `${TEST_GLOBALS}debug = 6\n${workers}${section}redirect = 127.0.0.1:${honey.port}\nverifyChain = yes\nCAfile = ${p.caFile}\n`);
        daemon.child.kill('SIGHUP');
        const bound = await daemon.port(1);
        assert.deepEqual(await visit(bound, file, false, [version]), { reused: false, reached: 'HONEY' });
      });
    }
  }
});
