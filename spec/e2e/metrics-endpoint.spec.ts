/**
 * `metrics = HOST:PORT` (stunnel-ts extension): a real scrape (curl) of a daemon after a
 * known sequence (good connections, failed handshakes, a backend refusal, a reload) reads
 * exactly what was done and passes `promtool check metrics`; /healthz and bad requests;
 * with `workers = 2` the primary serves the sum over both workers; at the descriptor wall
 * the fd series show it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Running } from '../helpers/daemon';
import { closedPort, exchange } from '../helpers/config';
import { curlGet, metricsPort, promtoolCheck, sample } from '../helpers/metrics';
import { assertPeers, skipWithout } from '../helpers/peers';
import { pki } from '../helpers/pki';
import { EchoBench, FOREGROUND } from '../process/echo-bench';
import { onlyWorker, servedBy, startedWorkers } from '../process/workers-harness';

const p = pki();
const bench = new EchoBench('stunnel-ts-metrics-');
const HOST = '127.0.7.1';
const SIZE = 64 * 1024;

async function tlsClient(port: number): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: p.ca.certPem, servername: 'localhost' });
  await once(socket, 'secureConnect');
  // After the exchange the daemon's close may come as a reset: that is not this spec's concern.
  socket.on('error', () => undefined);
  return socket;
}

/** The socket's 'close', whatever error came first (events.once would reject on it). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Plain HTTP where TLS is expected: the handshake fails (`protocol`). */
async function notTls(port: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.end('GET / HTTP/1.0\r\n\r\n');
  await closed(socket);
}

/** Waits until the daemon has logged `count` `Connection …:` lines. */
async function connectionsEnded(daemon: Running, count: number): Promise<void> {
  const ended = () => daemon.lines.filter((l) => /\]: Connection [\w/]+: \d+ byte/.test(l)).length;
  while (ended() < count) {
    const seen = ended();
    await daemon.waitFor(new RegExp(`\\]: Connection [\\w/]+: \\d+ byte`));
    if (ended() === seen) await new Promise((resolve) => setImmediate(resolve));
    if (ended() === seen) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a single process after a known sequence', { skip: skipWithout('curl', 'promtool') }, () => {
  let daemon: Running;
  let port: number;
  let refusedPort: number;
  let mport: number;

  bench.before(async () => {
    const refused = await closedPort();
    const conf = bench.writeEchoConf('single', `${FOREGROUND}\nmetrics = ${HOST}:0`,
      { extra: `[refused]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${refused}\ncert = ${p.serverCert}\nkey = ${p.serverKey}` });
    daemon = await bench.startForeground(conf);
    mport = await metricsPort(daemon);
    // The metrics line is the first `bound to` line.
    port = await daemon.port(1);
    refusedPort = await daemon.port(2);
  });

  test('3 good connections, 2 failed handshakes, 1 backend refusal, 1 reload: the scrape says so and promtool agrees', async () => {
    assertPeers('curl', 'promtool');
    for (let n = 0; n < 3; n++) {
      const result = await tlsClient(port).then((socket) => exchange(socket, SIZE)).catch((error: Error) => {
        throw new Error(`${error.message}:\n${daemon.lines.join('\n')}`);
      });
      assert.equal(result.received, result.sent);
    }
    await notTls(port);
    await notTls(port);
    // The backend refuses: the daemon resets the connection after the handshake.
    const refused = tlsConnect({ host: '127.0.0.1', port: refusedPort, ca: p.ca.certPem, servername: 'localhost' });
    refused.on('error', () => undefined);
    await closed(refused);
    await connectionsEnded(daemon, 6);
    process.kill(daemon.child.pid!, 'SIGHUP');
    await daemon.waitFor(/Reading configuration from file .*single\.conf/);
    while (daemon.lines.filter((l) => /LOG5\[ui\]: Configuration successful$/.test(l)).length < 2) {
      await daemon.waitFor(/LOG5\[ui\]: Configuration successful$/);
      await new Promise((resolve) => setImmediate(resolve));
    }

    const { status, body } = await curlGet(HOST, mport, '/metrics');
    assert.equal(status, 200);
    const check = await promtoolCheck(body);
    assert.equal(check.code, 0, `promtool check metrics: ${check.output}`);
    const value = (name: string, labels: Record<string, string> = {}) => sample(body, name, labels);
    assert.equal(value('stunnel_connections_accepted_total', { service: 'echo' }), 5);
    assert.equal(value('stunnel_connections_accepted_total', { service: 'refused' }), 1);
    assert.equal(value('stunnel_connections_active', { service: 'echo' }), 0);
    assert.equal(value('stunnel_connections_closed_total', { service: 'echo', how: 'closed' }), 3);
    assert.equal(value('stunnel_connections_closed_total', { service: 'echo', how: 'reset' }), 2);
    assert.equal(value('stunnel_connections_closed_total', { service: 'refused', how: 'reset' }), 1);
    assert.equal(value('stunnel_handshake_failures_total', { service: 'echo', reason: 'protocol' }), 2);
    assert.equal(value('stunnel_handshake_seconds_count', { service: 'echo' }), 3);
    assert.equal(value('stunnel_handshake_seconds_count', { service: 'refused' }), 1);
    assert.equal(value('stunnel_backend_connect_failures_total', { service: 'refused' }), 1);
    assert.equal(value('stunnel_backend_connect_failures_total', { service: 'echo' }), undefined);
    assert.equal(value('stunnel_backend_connect_seconds_count'), 4);
    assert.equal(value('stunnel_bytes_total', { service: 'echo', direction: 'to_socket' }), 3 * SIZE);
    assert.equal(value('stunnel_bytes_total', { service: 'echo', direction: 'to_tls' }), 3 * SIZE);
    assert.equal(value('stunnel_config_reloads_total', { result: 'success' }), 1);
    assert.equal(value('stunnel_config_reloads_total', { result: 'failure' }), 0);
    assert.ok(Math.abs(value('stunnel_config_last_reload_success_timestamp_seconds')! - Date.now() / 1000) < 60);
    assert.equal(value('stunnel_draining'), 0);
    assert.equal(value('stunnel_fd_wall_total'), 0);
    const clients = Number((await daemon.waitFor(/; clients allowed: (\d+)$/))[1]);
    assert.equal(value('stunnel_clients_allowed'), clients);
    const notAfter = Math.floor(Date.parse(new X509Certificate(p.server.certPem).validTo) / 1000);
    assert.equal(value('stunnel_certificate_not_after_seconds', { service: 'echo', subject: 'CN=localhost' }), notAfter);
    assert.equal(value('stunnel_certificate_not_after_seconds', { service: 'refused', subject: 'CN=localhost' }), notAfter);
    assert.ok(value('process_open_fds')! > 0 && value('process_max_fds')! > 0);
    assert.ok(value('process_resident_memory_bytes')! > 0);
  });

  test('/healthz answers 200 ok; other paths 404; a broken request costs that request only', async () => {
    assertPeers('curl', 'promtool');
    assert.deepEqual(await curlGet(HOST, mport, '/healthz'), { status: 200, body: 'ok\n' });
    assert.equal((await curlGet(HOST, mport, '/')).status, 404);
    assert.equal((await curlGet(HOST, mport, '/metricsx')).status, 404);
    const raw = connect(mport, HOST);
    let answer = '';
    raw.on('data', (d: Buffer) => { answer += d.toString(); });
    raw.on('error', () => undefined);
    raw.write('NOT HTTP AT ALL\r\n\r\n');
    await closed(raw);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const big = connect(mport, HOST);
    let bigAnswer = '';
    big.on('data', (d: Buffer) => { bigAnswer += d.toString(); });
    big.on('error', () => undefined);
    big.write(`GET /metrics HTTP/1.1\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
    await closed(big);
    assert.match(bigAnswer, /^HTTP\/1\.1 4\d\d /);
    assert.deepEqual(await curlGet(HOST, mport, '/healthz'), { status: 200, body: 'ok\n' });
    assert.equal(daemon.child.exitCode, null);
  });
});

describe('workers = 2', { skip: skipWithout('curl', 'promtool') }, () => {
  let daemon: Running;
  let port: number;
  let mport: number;
  let workers: Map<number, number>;

  bench.before(async () => {
    daemon = await bench.startForeground(bench.writeEchoConf('workers', `${FOREGROUND}\nworkers = 2\nmetrics = ${HOST}:0`));
    mport = await metricsPort(daemon);
    workers = await startedWorkers(daemon, 2);
    port = await daemon.port(1);
  });

  test('the primary serves the sum over both workers', async () => {
    assertPeers('curl', 'promtool');
    // Worker 1 serves two connections, worker 2 one.
    const plan = [...workers.keys()].flatMap((id, i) => Array.from({ length: 2 - i }, () => id));
    for (const id of plan) {
      await onlyWorker(workers, id, async () => {
        const socket = await tlsClient(port);
        assert.equal(await servedBy(daemon, socket), id);
        const result = await exchange(socket, SIZE);
        assert.equal(result.received, result.sent);
      });
    }
    await connectionsEnded(daemon, 3);
    const { status, body } = await curlGet(HOST, mport, '/metrics');
    assert.equal(status, 200);
    const check = await promtoolCheck(body);
    assert.equal(check.code, 0, `promtool check metrics: ${check.output}`);
    assert.equal(sample(body, 'stunnel_connections_accepted_total', { service: 'echo' }), 3);
    assert.equal(sample(body, 'stunnel_connections_closed_total', { service: 'echo', how: 'closed' }), 3);
    assert.equal(sample(body, 'stunnel_bytes_total', { service: 'echo', direction: 'to_socket' }), 3 * SIZE);
    assert.equal(sample(body, 'stunnel_handshake_seconds_count', { service: 'echo' }), 3);
    assert.equal(sample(body, 'stunnel_listeners', { service: 'echo' }), 2);
    // Each worker has its own client limit: the primary's line names one worker's.
    const clients = Number((await daemon.waitFor(/; clients allowed: (\d+)$/))[1]);
    assert.equal(sample(body, 'stunnel_clients_allowed'), 2 * clients);
    assert.equal(sample(body, 'stunnel_config_reloads_total', { result: 'success' }), 0);
    assert.deepEqual(await curlGet(HOST, mport, '/healthz'), { status: 200, body: 'ok\n' });
  });
});

describe('at the descriptor wall (ulimit -n 64)', { skip: skipWithout('curl') }, () => {
  const held: Socket[] = [];
  const backendSockets: Socket[] = [];
  const backend = createServer((socket) => { backendSockets.push(socket); socket.on('error', () => undefined); });
  let daemon: Running;
  let port: number;
  let mport: number;

  bench.before(async () => {
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const backendPort = (backend.address() as { port: number }).port;
    // Client mode: each plain connection costs the daemon two descriptors (its backend dialed at once).
    const conf = bench.writeEchoConf('wall', `${FOREGROUND}\nmetrics = ${HOST}:0`,
      { name: 'unused', extra: `[wall]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${backendPort}` });
    daemon = await bench.startForeground(conf, { openFiles: 64 });
    mport = await metricsPort(daemon);
    port = await daemon.port(2);
  });

  test('process_open_fds near process_max_fds and stunnel_fd_wall_total >= 1', async (t) => {
    t.after(() => {
      for (const s of [...held, ...backendSockets]) s.destroy();
      backend.close();
    });
    assertPeers('curl');
    const wall = /Accepting new connections suspended for 1 second$/;
    for (let n = 0; n < 64 && !daemon.lines.some((l) => wall.test(l)); n++) {
      const dialed = backendSockets.length;
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      held.push(socket);
      await once(socket, 'connect');
      // Its backend connection (or the wall) before the next one.
      if (backendSockets.length === dialed) await Promise.race([once(backend, 'connection'), daemon.waitFor(wall)]);
    }
    await daemon.waitFor(wall);
    const { status, body } = await curlGet(HOST, mport, '/metrics');
    assert.equal(status, 200, body);
    const open = sample(body, 'process_open_fds')!;
    const max = sample(body, 'process_max_fds')!;
    assert.equal(max, 64);
    assert.ok(open >= max - 8, `process_open_fds ${open} near process_max_fds ${max}`);
    assert.ok(sample(body, 'stunnel_fd_wall_total')! >= 1);
  });
});

describe('TIMEOUTdrain', { skip: skipWithout('curl') }, () => {
  let daemon: Running;
  let port: number;
  let mport: number;

  bench.before(async () => {
    daemon = await bench.startForeground(bench.writeEchoConf('drain', `${FOREGROUND}\nTIMEOUTdrain = 30\nmetrics = ${HOST}:0`));
    mport = await metricsPort(daemon);
    port = await daemon.port(1);
  });

  test('on TERM /healthz answers 503 draining and stunnel_draining is 1 while tunnels finish', async () => {
    assertPeers('curl');
    assert.deepEqual(await curlGet(HOST, mport, '/healthz'), { status: 200, body: 'ok\n' });
    const socket = await tlsClient(port);
    socket.write('held');
    await once(socket, 'data');
    const draining = daemon.waitFor(/Draining 1 connection\(s\) for up to 30 s$/);
    process.kill(daemon.child.pid!, 'SIGTERM');
    await draining;
    assert.deepEqual(await curlGet(HOST, mport, '/healthz'), { status: 503, body: 'draining\n' });
    assert.equal(sample((await curlGet(HOST, mport, '/metrics')).body, 'stunnel_draining'), 1);
    // The held tunnel still works; once it ends the daemon exits.
    const result = await exchange(socket, SIZE);
    assert.equal(result.received, result.sent);
    assert.equal((await daemon.exited).code, 0);
  });
});
