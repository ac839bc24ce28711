/**
 * A fleet of three stunnel-ts instances (127.0.2.1–3, `TIMEOUTdrain`, the third with two workers
 * sharing its listening socket) behind HAProxy in TCP mode (health checks, `option redispatch`),
 * nginx serving a 1 MB file behind them. While 16 clients download without pause, each instance
 * in turn gets TERM, drains, exits and starts again: not one request fails, not even a handshake
 * (each listener is fenced before it closes: engine/fence), and every body's checksum is right.
 * Then tickets shared across instances (`ticketKeySecret`/`ticketMacSecret`): a TLS 1.2 and a
 * TLS 1.3 session from one instance resume on another.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { runStunnelTs, tempDir, writeConf, type Running } from '../helpers/daemon';
import { download, freePort, startHaproxy, startNginx, type Daemon, type Nginx } from '../helpers/fleet';
import { TEST_GLOBALS } from '../helpers/net';
import { assertPeers, skipWithout } from '../helpers/peers';
import { pki } from '../helpers/pki';

const HOSTS = ['127.0.2.1', '127.0.2.2', '127.0.2.3'];
const FILE = randomBytes(1 << 20);
const FILE_SHA = createHash('sha256').update(FILE).digest('hex');
const CLIENTS = 16;
const MIN_REQUESTS = 200;
const TICKET_KEY = Array.from(randomBytes(32)).map((b) => b.toString(16).padStart(2, '0')).join(':');
const TICKET_MAC = Array.from(randomBytes(32)).map((b) => b.toString(16).padStart(2, '0')).join(':');

describe('fleet: rolling restart behind HAProxy, tickets shared', { skip: skipWithout('haproxy', 'nginx') }, () => {
  let dir: string;
  let nginx: Nginx;
  let haproxy: Daemon;
  const ports: number[] = [];
  const instances: Running[] = [];

  function startInstance(i: number): Running {
    const p = pki();
    const workers = i === HOSTS.length - 1 ? 'workers = 2\n' : '';
    const file = writeConf(dir, `instance-${i}.conf`, `${TEST_GLOBALS}debug = info\nTIMEOUTdrain = 30\n${workers}` +
      `[web]\naccept = ${HOSTS[i]}:${ports[i]}\nconnect = 127.0.2.50:${nginx.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n` +
      `ticketKeySecret = ${TICKET_KEY}\nticketMacSecret = ${TICKET_MAC}\n`);
    const daemon = runStunnelTs([file]);
    instances[i] = daemon;
    return daemon;
  }

  before(async () => {
    assertPeers('haproxy', 'nginx');
    dir = tempDir('stunnel-ts-fleet-roll-');
    nginx = await startNginx(dir, '127.0.2.50', { '1m.bin': FILE }, false);
    for (const host of HOSTS) ports.push(await freePort(host));
    for (let i = 0; i < HOSTS.length; i++) await startInstance(i).waitFor(/Accepting new connections/);
    haproxy = await startHaproxy(dir, '127.0.2.40', (port) => `
frontend fe
  bind 127.0.2.40:${port}
  default_backend fleet
backend fleet
  balance roundrobin
  option redispatch 1
  retries 3
${HOSTS.map((h, i) => `  server s${i + 1} ${h}:${ports[i]} check inter 200ms fall 1 rise 1`).join('\n')}
`);
  });

  after(async () => {
    for (const d of instances) {
      d?.child.kill('SIGKILL');
      await d?.exited;
    }
    await haproxy?.stop();
    await nginx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${CLIENTS} clients downloading 1 MB without pause while each instance drains and restarts: 0 failed`, async (t) => {
    let done = false;
    let requests = 0;
    const failures: string[] = [];
    let warm: () => void = () => undefined;
    const warmedUp = new Promise<void>((resolve) => (warm = resolve));
    const client = async () => {
      while (!done || requests < MIN_REQUESTS) {
        try {
          const got = await download('127.0.2.40', haproxy.port, '/1m.bin', pki().ca.certPem);
          if (got.status !== 200 || got.sha256 !== FILE_SHA) failures.push(`status ${got.status}, ${got.bytes} bytes, sha ${got.sha256}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        requests++;
        if (requests >= CLIENTS) warm();
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    // Every instance carries traffic before the first one is restarted.
    await warmedUp;
    for (let i = 0; i < HOSTS.length; i++) {
      const old = instances[i];
      const draining = old.waitFor(/Draining \d+ connection\(s\) for up to 30 s$/);
      old.child.kill('SIGTERM');
      t.diagnostic(`instance ${i + 1}: ${(await draining)[0]}`);
      assert.equal((await old.exited).code, 0);
      assert.match(old.lines.filter((l) => /LOG\d\[/.test(l)).at(-1) ?? '', /LOG5\[ui\]: Terminated$/);
      await startInstance(i).waitFor(/Accepting new connections/);
    }
    done = true;
    await Promise.all(clients);
    t.diagnostic(`rolling restart: ${requests} requests, ${failures.length} failed`);
    // Not even a handshake cut: each listener is fenced before it closes, so no connection the
    // kernel queued on it is reset (engine/fence); a connect meanwhile is delayed, then refused and
    // redispatched by HAProxy.
    assert.deepEqual(failures, []);
    assert.ok(requests >= MIN_REQUESTS);
  });

  /** A TLS session from instance `from`, resumed on instance `to`. */
  async function resumeAcross(version: 'TLSv1.2' | 'TLSv1.3', from: number, to: number): Promise<boolean> {
    const open = (i: number, session?: Buffer) => tlsConnect({
      host: HOSTS[i], port: ports[i], servername: 'localhost', ca: pki().ca.certPem, minVersion: version, maxVersion: version, session,
    });
    const first = open(from);
    const ticket = new Promise<Buffer>((resolve) => first.once('session', resolve));
    await once(first, 'secureConnect');
    first.write('GET /1m.bin HTTP/1.0\r\n\r\n');
    const session = await ticket;
    first.destroy();
    const second: TLSSocket = open(to, session);
    await once(second, 'secureConnect');
    const reused = second.isSessionReused();
    second.destroy();
    return reused;
  }

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`a ${version} session from one instance resumes on another (shared ticket keys)`, async () => {
      assert.equal(await resumeAcross(version, 0, 1), true);
      assert.equal(await resumeAcross(version, 2, 0), true);
    });
  }
});
