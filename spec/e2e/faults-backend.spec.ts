/**
 * @module spec/e2e/faults-backend
 * Backend faults through the real binary (server mode, 1-second timeouts): a backend that
 * refuses, resets mid-stream, half-closes, stalls or is killed costs only its own tunnel,
 * logs stunnel's line, and the client sees a close or reset — never a hang — while a
 * healthy tunnel in parallel keeps carrying bytes intact.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { closedPort } from '../helpers/config';
import type { Running } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import {
  backend, ending, healthyRoundTrip, serverSection, startDaemon, tlsClient, transfer, type Backend,
} from '../helpers/net';

let daemon: Running;
let dir: string;
const backends: Backend[] = [];
let killable: ChildProcess;
let killablePort: number;
const port: Record<string, number> = {};
const SERVICES = ['healthy', 'refused', 'reset', 'halfclose', 'stall', 'killed'] as const;

/** The connection id the daemon gave the client whose local port is `clientPort`. */
async function connectionId(service: string, clientPort: number): Promise<string> {
  const m = await daemon.waitFor(new RegExp(`LOG5\\[([^\\]]+)\\]: Service \\[${service}\\] accepted connection from 127\\.0\\.0\\.1:${clientPort}$`));
  return m[1];
}

/** Waits for the `Connection closed|reset…` line of connection `id`; returns the status word(s). */
async function connectionEnd(id: string): Promise<string> {
  const m = await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection (\\S+): \\d+ byte\\(s\\) sent to TLS, \\d+ byte\\(s\\) sent to socket$`));
  return m[1];
}

/** A 1 MB echo round trip on the healthy service, started now, to be awaited later. */
function parallelHealthy(): Promise<boolean> {
  return healthyRoundTrip(port.healthy, 1 << 20);
}

before(async () => {
  const p = pki();
  const echo = await backend();
  const reset = await backend((s) => {
    let seen = 0;
    s.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen >= 65536 && !s.destroyed) s.resetAndDestroy();
      else s.write(chunk);
    });
  });
  const halfClose = await backend((s) => s.end('backend says goodbye\n'));
  const stall = await backend((s) => s.pause());
  backends.push(echo, reset, halfClose, stall);
  // A backend in its own process, so that the test can SIGKILL it mid-transfer.
  killable = spawn(process.execPath, ['-e', `
    const s = require('net').createServer((c) => c.pipe(c)).listen(0, '127.0.0.1', () => console.log(s.address().port));`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const [first] = (await once(killable.stdout!, 'data')) as [Buffer];
  killablePort = Number(first.toString().trim());
  const refusedPort = await closedPort();
  const started = await startDaemon([
    'debug = 6', 'TIMEOUTbusy = 1', 'TIMEOUTclose = 1', 'TIMEOUTconnect = 1', '',
    serverSection('healthy', echo.port, p),
    serverSection('refused', refusedPort, p),
    serverSection('reset', reset.port, p),
    serverSection('halfclose', halfClose.port, p),
    serverSection('stall', stall.port, p, 'TIMEOUTidle = 1\n'),
    serverSection('killed', killablePort, p),
  ].join('\n'));
  daemon = started.daemon;
  dir = started.dir;
  for (let i = 0; i < SERVICES.length; i++) port[SERVICES[i]] = await daemon.port(i);
});

after(async () => {
  await daemon?.stop();
  killable?.kill('SIGKILL');
  for (const b of backends) await b.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('backend faults cost only their own tunnel', () => {
  test('backend refuses: s_connect error logged at LOG3, client sees the connection end', async () => {
    const healthy = parallelHealthy();
    const client = await tlsClient(port.refused); // server mode: handshake first, then the dial
    const id = await connectionId('refused', client.localPort!);
    const end = await ending(client, 5000);
    await daemon.waitFor(new RegExp(`LOG3\\[${id}\\]: s_connect: connect 127\\.0\\.0\\.1:\\d+: Connection refused \\(111\\)$`));
    await daemon.waitFor(new RegExp(`LOG3\\[${id}\\]: No more addresses to connect$`));
    assert.equal(await connectionEnd(id), 'reset');
    assert.ok(end.ms < 5000);
    assert.equal(await healthy, true, 'the healthy tunnel carried 1 MB intact meanwhile');
  });

  test('backend resets mid-stream: the tunnel ends, the client is not left hanging', async () => {
    const healthy = parallelHealthy();
    const client = await tlsClient(port.reset);
    const id = await connectionId('reset', client.localPort!);
    // stunnel 5.68 answers a backend's RST with a clean close_notify to the client, so the
    // client may see an orderly EOF: what matters is that it did not get the whole echo.
    const result = transfer(client, 1 << 20).then(
      (r) => (r.receivedBytes < r.sentBytes ? `cut after ${r.receivedBytes} bytes` : 'completed'),
      (err: Error) => `cut: ${err.message}`,
    );
    const end = await ending(client, 5000);
    assert.match(await connectionEnd(id), /^(closed|reset)/);
    assert.match(await result, /^cut/, 'a backend that reset after 64 KiB cannot have echoed 1 MB');
    assert.ok(end.ms < 5000, `closed after ${end.ms} ms`);
    assert.equal(await healthy, true);
  });

  test('backend half-closes: its last words arrive, then EOF, and the client can still send', async () => {
    const backendSide = backends[2];
    const accepted = backendSide.nextConnection();
    const client = await tlsClient(port.halfclose);
    const id = await connectionId('halfclose', client.localPort!);
    const backendEof = accepted.then((s) => once(s, 'end'));
    let got = '';
    client.on('data', (c: Buffer) => { got += c.toString(); });
    await once(client, 'end');
    assert.equal(got, 'backend says goodbye\n');
    const payload = Buffer.alloc(200_000, 7);
    client.end(payload);
    await backendEof;
    assert.equal(await connectionEnd(id), 'closed');
    assert.ok(backendSide.receivedHashes.has(createHash('sha256').update(payload).digest('hex')),
      'everything the client sent after the backend half-closed reached the backend');
    await ending(client, 5000);
  });

  test('backend stalls: TIMEOUTidle (1 s) resets the tunnel with stunnel\'s LOG6 line', async () => {
    const healthy = parallelHealthy();
    const client = await tlsClient(port.stall);
    const id = await connectionId('stall', client.localPort!);
    client.write('anyone there?');
    const end = await ending(client, 5000);
    await daemon.waitFor(new RegExp(`LOG6\\[${id}\\]: transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset$`));
    assert.equal(await connectionEnd(id), 'reset');
    assert.ok(end.ms >= 900 && end.ms < 4000, `cut after ${end.ms} ms (TIMEOUTidle = 1)`);
    assert.equal(await healthy, true);
  });

  test('backend process killed mid-transfer: the tunnel ends, the client sees it', async () => {
    const healthy = parallelHealthy();
    const client = await tlsClient(port.killed);
    const id = await connectionId('killed', client.localPort!);
    const first = once(client, 'data');
    client.write(Buffer.alloc(1000, 1));
    await first; // the echo proves the tunnel reached the backend
    const end = ending(client, 5000);
    killable.kill('SIGKILL');
    client.write(Buffer.alloc(1000, 2));
    const e = await end;
    assert.match(await connectionEnd(id), /^(closed|reset)/);
    assert.ok(['end', 'error', 'close'].includes(e.how));
    assert.equal(await healthy, true);
  });

  test('after all of that the daemon still serves every healthy connection', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => healthyRoundTrip(port.healthy, 100_000)));
    assert.deepEqual(results, Array(10).fill(true));
    assert.equal(daemon.child.exitCode, null, 'the daemon is still running');
  });
});
