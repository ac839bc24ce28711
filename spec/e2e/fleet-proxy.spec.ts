/**
 * A tunnel behind HAProxy (TCP mode) in front of nginx: the original client's address
 * travels through. HAProxy `send-proxy-v2` / `send-proxy` → `acceptProxy = yes` →
 * `protocol = proxy` → nginx `listen … proxy_protocol` logs the client bound to 127.0.9.9,
 * and so does the tunnel's `accepted connection from` line. Connections without a header,
 * with a broken one or a 64 KiB one are refused with one LOG3 line naming the real peer,
 * and the next good connection is served. `proxyVersion = 2` is decoded by nginx (address)
 * and by HAProxy (`accept-proxy`: address and the SNI from PP2_TYPE_AUTHORITY).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { runStunnelTs, tempDir, writeConf, type Running } from '../helpers/daemon';
import { PROBE_ADDRESS, download, outputMatching, startHaproxy, startNginx, type Daemon, type Nginx } from '../helpers/fleet';
import { TEST_GLOBALS, nextLine } from '../helpers/net';
import { assertPeers, skipWithout } from '../helpers/peers';
import { pki } from '../helpers/pki';

const INSTANCE = '127.0.2.1';
const CLIENT = '127.0.9.9';
const BODY = randomBytes(65536);
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

describe('fleet: the client address through PROXY headers', { skip: skipWithout('haproxy', 'nginx') }, () => {
  let dir: string;
  let nginx: Nginx;
  const started: Array<{ stop(): Promise<void> }> = [];

  before(async () => {
    assertPeers('haproxy', 'nginx');
    dir = tempDir('stunnel-ts-fleet-proxy-');
    nginx = await startNginx(dir, '127.0.2.50', { 'f.bin': BODY }, true);
    started.push(nginx);
  });

  after(async () => {
    for (const d of started.reverse()) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function tunnel(name: string, extra: string, backend = `127.0.2.50:${nginx.port}`): Promise<{ daemon: Running; port: number }> {
    const p = pki();
    const file = writeConf(dir, `${name}.conf`, `${TEST_GLOBALS}debug = info\n[${name}]\naccept = ${INSTANCE}:0\nconnect = ${backend}\n` +
      `cert = ${p.serverCert}\nkey = ${p.serverKey}\nprotocol = proxy\n${extra}`);
    const daemon = runStunnelTs([file]);
    started.push(daemon);
    return { daemon, port: await daemon.port() };
  }

  async function balancer(server: string): Promise<Daemon> {
    const haproxy = await startHaproxy(dir, '127.0.2.40', (port) => `
frontend fe
  bind 127.0.2.40:${port}
  default_backend be
backend be
  server s1 ${server}
`);
    started.push(haproxy);
    return haproxy;
  }

  for (const [version, option] of [['v2', 'send-proxy-v2'], ['v1', 'send-proxy']] as const) {
    test(`HAProxy ${option} → acceptProxy → protocol = proxy → nginx sees ${CLIENT}`, async () => {
      const { daemon, port } = await tunnel(`in-${version}`, 'acceptProxy = yes\n');
      const haproxy = await balancer(`${INSTANCE}:${port} ${option}`);
      const accepted = nextLine(daemon, new RegExp(`Service \\[in-${version}\\] accepted connection from ${CLIENT.replaceAll('.', '\\.')}:(\\d+)$`));
      const got = await download('127.0.2.40', haproxy.port, `/f.bin?${version}`, pki().ca.certPem, CLIENT);
      assert.deepEqual([got.status, got.sha256], [200, BODY_SHA]);
      await accepted;
      const line = nginx.accessLines().find((l) => l.includes(`/f.bin?${version}`));
      assert.match(line ?? '', new RegExp(`^\\S+ ${CLIENT.replaceAll('.', '\\.')} \\d+ "GET /f\\.bin\\?${version} HTTP/1\\.1" 200 65536$`));
    });
  }

  test('HAProxy health checks (check-send-proxy: a v2 LOCAL header, then a TLS handshake) are served and never blamed on the balancer', async () => {
    const { daemon, port } = await tunnel('in-check', 'acceptProxy = yes\n');
    const checked = nextLine(daemon, /Service \[in-check\] accepted connection from 127\.\d+\.\d+\.\d+:\d+$/);
    const handshake = nextLine(daemon, /TLS accepted: new session negotiated|TLS accepted: previous session reused/);
    const ended = nextLine(daemon, /LOG5\[\d+\]: Connection (closed|reset): /);
    await balancer(`${INSTANCE}:${port} send-proxy-v2 check check-send-proxy check-ssl verify none inter 200ms`);
    await checked;
    await handshake;
    await ended;
    // A check may hang up before our side of the handshake is done: logged, but never in the
    // `(from ADDR:PORT)` form the fail2ban filter bans on.
    // (The readiness probe through HAProxy is a client that hangs up: its lines name PROBE_ADDRESS.)
    assert.deepEqual(daemon.lines.filter((l) => /PROXY header refused|\(from [^,)]+\)$/.test(l) && !l.includes(PROBE_ADDRESS)), []);
  });

  test('no header, a broken header, a 64 KiB header: refused, logged with the real peer; the next good one is served', async () => {
    const { daemon, port } = await tunnel('in-bad', 'acceptProxy = yes\n');
    const send = async (bytes: Buffer) => {
      const socket = connect({ host: INSTANCE, port, localAddress: '127.0.2.9' });
      await once(socket, 'connect');
      const local = socket.localPort;
      socket.on('error', () => undefined);
      socket.write(bytes);
      const received: Buffer[] = [];
      socket.on('data', (c: Buffer) => received.push(c));
      // Unread bytes left behind (the 64 KiB header) make the kernel answer with a RST: an error here is fine.
      await new Promise((resolve) => socket.on('close', resolve));
      assert.equal(Buffer.concat(received).length, 0, 'nothing is sent back');
      return local;
    };
    const cases: Array<[Buffer, string]> = [
      [Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]), 'no PROXY header'],
      [Buffer.from('PROXY TCP4 127.0.9.9 nonsense 1 2\r\n'), 'bad TCP4 address in PROXY v1 line'],
      [Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2111ffff', 'hex'), Buffer.alloc(65535)]), 'PROXY v2 header of 65551 bytes (at most 2064)'],
    ];
    for (const [bytes, reason] of cases) {
      const line = nextLine(daemon, /PROXY header refused/);
      const local = await send(bytes);
      assert.match(await line, new RegExp(`LOG3\\[\\d+\\]: Service \\[in-bad\\]: PROXY header refused from 127\\.0\\.2\\.9:${local}: ${reason.replace(/[()]/g, '\\$&')}$`));
    }
    // A good client: its own v1 header, then TLS and HTTP.
    const raw = connect({ host: INSTANCE, port });
    await once(raw, 'connect');
    raw.write('PROXY TCP4 127.0.9.9 127.0.2.1 5555 443\r\n');
    const tls = tlsConnect({ socket: raw, servername: 'localhost', ca: pki().ca.certPem });
    await once(tls, 'secureConnect');
    tls.end('GET /f.bin?good HTTP/1.0\r\n\r\n');
    const chunks: Buffer[] = [];
    tls.on('data', (c: Buffer) => chunks.push(c));
    await once(tls, 'end');
    const response = Buffer.concat(chunks);
    assert.match(response.subarray(0, 12).toString(), /^HTTP\/1\.1 200/);
    assert.equal(createHash('sha256').update(response.subarray(response.indexOf('\r\n\r\n') + 4)).digest('hex'), BODY_SHA);
    assert.ok(daemon.lines.some((l) => /accepted connection from 127\.0\.9\.9:5555$/.test(l)));
    assert.ok(nginx.accessLines().some((l) => /^\S+ 127\.0\.9\.9 5555 "GET \/f\.bin\?good/.test(l)));
  });

  test('proxyVersion = 2 decoded by nginx (the client address)', async () => {
    const { port } = await tunnel('out-nginx', 'proxyVersion = 2\n');
    const got = await download(INSTANCE, port, '/f.bin?pp2', pki().ca.certPem, CLIENT);
    assert.deepEqual([got.status, got.sha256], [200, BODY_SHA]);
    const line = nginx.accessLines().find((l) => l.includes('/f.bin?pp2'));
    assert.match(line ?? '', /^\S+ 127\.0\.9\.9 \d+ "GET \/f\.bin\?pp2 HTTP\/1\.1" 200 65536$/);
  });

  test('proxyVersion = 2 decoded by HAProxy accept-proxy (address, and the SNI as PP2_TYPE_AUTHORITY)', async () => {
    const plainPort = await freeNginxPlain();
    const haproxy = await startHaproxy(dir, '127.0.2.41', (port) => `
frontend pp
  bind 127.0.2.41:${port} accept-proxy
  option logasap
  log-format "PP2 src=%ci:%cp authority=%[fc_pp_authority]"
  default_backend web
backend web
  server n 127.0.2.51:${plainPort}
`);
    started.push(haproxy);
    const { port } = await tunnel('out-haproxy', 'proxyVersion = 2\n', `127.0.2.41:${haproxy.port}`);
    const got = await download(INSTANCE, port, '/f.bin?haproxy', pki().ca.certPem, CLIENT);
    assert.deepEqual([got.status, got.sha256], [200, BODY_SHA]);
    // HAProxy logs the request on its own schedule: wait for the line, then check it.
    assert.match(await outputMatching(haproxy, /PP2 src=/), /PP2 src=127\.0\.9\.9:\d+ authority=localhost/);
  });

  /** A second nginx without proxy_protocol, behind the HAProxy that decodes the header. */
  async function freeNginxPlain(): Promise<number> {
    const plainDir = tempDir('stunnel-ts-fleet-plain-');
    const plain = await startNginx(plainDir, '127.0.2.51', { 'f.bin': BODY }, false);
    started.push({ stop: async () => { await plain.stop(); rmSync(plainDir, { recursive: true, force: true }); } });
    return plain.port;
  }
});
