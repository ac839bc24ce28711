/**
 * @module spec/e2e/faults-client
 * Client faults through the real binary (server mode, 1-second timeouts): a client that
 * resets mid-transfer, and 1,000 clients that connect and never finish the handshake
 * (slowloris): all cut at TIMEOUTbusy while other clients are served.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Running } from '../helpers/daemon';
import {
  captureClientHello, echoTunnel, ending, healthyRoundTrip, lineCount, resettableTlsClient, tcpClient, type Backend, type EchoTunnel,
} from '../helpers/net';

const SLOW_CLIENTS = 1000;
let tunnel: EchoTunnel;
let daemon: Running;
let echo: Backend;
let port: number;

before(async () => {
  tunnel = await echoTunnel('debug = 6\nTIMEOUTbusy = 1\nTIMEOUTclose = 1\nTIMEOUTidle = 5', '', 'echo');
  ({ daemon, echo, port } = tunnel);
});

after(() => tunnel?.stop());

test('a client that resets mid-transfer costs only its tunnel; the backend side is closed too', async () => {
  const accepted = echo.nextConnection();
  const { tls: client, reset } = await resettableTlsClient(port);
  client.on('error', () => undefined);
  const id = (await daemon.waitFor(new RegExp(`LOG5\\[(\\d+)\\]: Service \\[echo\\] accepted connection from 127\\.0\\.0\\.1:${client.localPort}$`)))[1];
  const backendSide = await accepted;
  const backendEnd = ending(backendSide, 5000);
  const firstEcho = once(client, 'data');
  client.write(Buffer.alloc(256 * 1024, 3));
  await firstEcho;
  reset();
  const end = await backendEnd;
  assert.ok(end.ms < 3000, `backend connection closed after ${end.ms} ms`);
  const status = (await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection (\\S+): \\d+ byte\\(s\\) sent to TLS, \\d+ byte\\(s\\) sent to socket$`)))[1];
  assert.match(status, /^(closed|reset)/);
  assert.equal(await healthyRoundTrip(port, 1 << 20), true);
});

test(`${SLOW_CLIENTS} clients that never finish the handshake are cut at TIMEOUTbusy while others are served`, { timeout: 60_000 }, async (t) => {
  const hello = await captureClientHello();
  const before = daemon.lines.filter((l) => /TIMEOUTbusy exceeded/.test(l)).length;
  const slow: Socket[] = [];
  for (let batch = 0; batch < SLOW_CLIENTS; batch += 200) {
    const opened = await Promise.all(Array.from({ length: Math.min(200, SLOW_CLIENTS - batch) }, () => tcpClient(port)));
    // Half say nothing at all; half send the first 20 bytes of a ClientHello and stop.
    opened.forEach((s, i) => { if (i % 2 === 1) s.write(hello.subarray(0, 20)); });
    slow.push(...opened);
  }
  const endings = slow.map((s) => ending(s, 15_000));
  // While all of them hold a connection, normal clients still get through.
  const served = await Promise.all(Array.from({ length: 5 }, () => healthyRoundTrip(port, 256 * 1024)));
  assert.deepEqual(served, Array(5).fill(true));
  const ends = await Promise.all(endings);
  const slowest = Math.max(...ends.map((e) => e.ms));
  const resets = ends.filter((e) => e.code === 'ECONNRESET').length;
  t.diagnostic(`slowest cut after ${slowest} ms; ${resets} saw a reset, ${ends.length - resets} an EOF`);
  assert.ok(ends.every((e) => e.how === 'end' || e.code === 'ECONNRESET'), 'each slow client sees a reset or an EOF');
  const busyLine = /LOG6\[\d+\]: ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset$/;
  const cut = (await lineCount(daemon, busyLine, before + SLOW_CLIENTS)) - before;
  assert.equal(cut, SLOW_CLIENTS, 'one TIMEOUTbusy line per slow client');
  assert.ok(slowest < 8000, `all slow clients cut within 8 s (slowest ${slowest} ms)`);
  for (const s of slow) s.destroy();
  assert.equal(await healthyRoundTrip(port, 1 << 20), true, 'the daemon serves normally afterwards');
});
