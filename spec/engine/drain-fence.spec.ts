/**
 * `TIMEOUTdrain` retires a TCP listener without resetting what the kernel queued on it
 * (engine/fence). Connections whose handshake the kernel completed before the drain, not accepted
 * yet, are all accepted and served; a handshake under way at the fence (held in SYN-RECV here by
 * TCP_DEFER_ACCEPT until the client's first bytes) completes and is served; a connect started after
 * the fence is neither queued nor reset: its SYN is dropped, and resent after ~1 s it finds the
 * port closed, refused (what a balancer redispatches on). A close() (a second TERM) ends the fence
 * at once.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { nativeAddon } from '../../lib/native';
import { GRACE_MS } from '../../lib/engine/fence';
import { echoServer, exchange, startEngine, type RunningEngine } from '../helpers/config';
import { tcpClient } from '../helpers/net';
import { tempDir } from '../helpers/daemon';
import { pki } from '../helpers/pki';

const addon = nativeAddon();
const skip = addon === null && 'native addon not built';
/** Connections sitting in the accept queue when the drain starts. */
const QUEUED = 12;

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** TLS to an echo backend on one service per `accept` address (`name`, `name2`, …); each listener's port and descriptor. */
async function tlsEngine(name: string, ...accept: string[]): Promise<RunningEngine & { fds: number[] }> {
  const echo = await echoServer();
  const p = pki();
  const running = await startEngine(`debug = 7\n` + accept.map((address, i) => `[${name}${i > 0 ? i + 1 : ''}]\n` +
    `accept = ${address}\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`).join(''));
  cleanups.push(() => running.engine.close(), () => echo.server.close());
  const fds = running.log.texts().filter((t) => / bound to /.test(t)).map((t) => Number(/\(FD=(\d+)\)/.exec(t)![1]));
  return { ...running, fds };
}

/** Blocks (the event loop too, on purpose) until `count` connections are queued on listener `fd`. */
function waitForQueue(fd: number, count: number): void {
  const backstop = Date.now() + 5000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (addon!.acceptQueue(fd) < count) {
    if (Date.now() > backstop) throw new Error(`backstop: ${addon!.acceptQueue(fd)} of ${count} connections queued`);
    Atomics.wait(pause, 0, 0, 1);
  }
}

/** A TLS client's echo round trip: what came back equals what went, or the error it met. */
async function served(tls: TLSSocket): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    const { sent, received } = await exchange(tls, 4096);
    return sent === received ? 'served' : 'bytes differ';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/** How a plain connect ends (`connected`, `ECONNREFUSED`, `ECONNRESET`, …) and after how long. */
function outcome(socket: Socket): Promise<{ result: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    socket.once('connect', () => { socket.destroy(); resolve({ result: 'connected', ms: Date.now() - started }); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve({ result: err.code ?? err.message, ms: Date.now() - started }));
  });
}

test(`a drain accepts and serves the ${QUEUED} connections queued on the listener and one mid-handshake; a connect after the fence is delayed, then refused, never reset`,
  { skip }, async () => {
    const { engine, log, ports: [port, pendingPort], fds: [fd, pendingFd] } = await tlsEngine('queued', '127.0.0.1:0', '127.0.0.1:0');
    const { IPPROTO_TCP, TCP_DEFER_ACCEPT } = addon!.constants;
    const seconds = Buffer.alloc(4);
    seconds.writeInt32LE(10);
    assert.equal(addon!.setsockopt(pendingFd, IPPROTO_TCP, TCP_DEFER_ACCEPT, seconds), 0);
    // Connected on the client's side; the listener holds it in SYN-RECV until its first bytes.
    const pendingRaw = await tcpClient(pendingPort);
    assert.equal(addon!.acceptQueue(pendingFd), 0);

    // Their connect() runs on the ticks queued now, before the event loop polls the listener again.
    const queued = Array.from({ length: QUEUED }, () => tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }));
    const started = await new Promise<{ drained: Promise<void>; late: Promise<{ result: string; ms: number }>; pending: TLSSocket }>((resolve) => {
      process.nextTick(() => {
        waitForQueue(fd, QUEUED);
        const drained = engine.drain(30);
        // The fence is up: this SYN (sent on the next tick) is dropped.
        const late = outcome(tcpConnect({ host: '127.0.0.1', port }));
        // Its ClientHello completes the handshake the listener held.
        const pending = tlsConnect({ socket: pendingRaw, rejectUnauthorized: false });
        resolve({ drained, late, pending });
      });
    });

    assert.deepEqual(await Promise.all([...queued, started.pending].map(served)), Array(QUEUED + 1).fill('served'));
    await started.drained;
    const late = await started.late;
    assert.equal(late.result, 'ECONNREFUSED');
    assert.ok(late.ms >= 900, `refused after ${late.ms} ms: its first SYN was not dropped`);
    const texts = log.texts();
    assert.equal(texts.filter((t) => /^Service \[queued\] accepted connection from /.test(t)).length, QUEUED);
    assert.equal(texts.filter((t) => /^Service \[queued2\] accepted connection from /.test(t)).length, 1);
    assert.equal(texts.filter((t) => /^Connection reset/.test(t)).length, 0, texts.join('\n'));
    assert.match(texts.find((t) => / fenced: /.test(t)) ?? '', /^Service \[queued\] \(FD=\d+\) fenced: accepting what is queued, then closing$/);
  });

test('close() during a drain\'s fence ends it at once: the listener refuses without delay, the tunnel is dropped', { skip }, async () => {
  const { engine, ports: [port] } = await tlsEngine('fenced', '127.0.0.1:0');
  const tls = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await new Promise((resolve) => tls.once('secureConnect', resolve));
  const closed = new Promise((resolve) => tls.once('close', resolve));
  tls.on('error', () => undefined);
  const graceOver = new Promise((resolve) => setTimeout(resolve, GRACE_MS, 'the fence waited for its grace'));
  const drained = engine.drain(30).then(() => 'drained');
  await engine.close();
  assert.equal(await Promise.race([drained, graceOver]), 'drained');
  await closed;
  const late = await outcome(tcpConnect({ host: '127.0.0.1', port }));
  assert.equal(late.result, 'ECONNREFUSED');
  assert.ok(late.ms < 900, `refused after ${late.ms} ms: still fenced`);
});

test('a Unix listener is not fenced: the drain closes it at once', { skip }, async () => {
  const path = join(tempDir('stunnel-ts-fence-'), 'accept.sock');
  const { engine, log } = await tlsEngine('unix', path);
  await engine.drain(30);
  assert.equal((await outcome(tcpConnect({ path }))).result, 'ENOENT');
  assert.deepEqual(log.texts().filter((t) => / fenced: /.test(t)), []);
});
