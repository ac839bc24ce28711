/**
 * `TIMEOUTdrain = S` (stunnel-ts extension): on TERM the listeners stop accepting at once (a new
 * connect is refused, once the fence has dropped its first SYN: engine/fence), open tunnels run
 * until they end, then `Terminated` and exit 0, the pid file last. A second TERM ends at once;
 * the deadline drops what is left. Workers drain too. Without the option, TERM drops tunnels at once as stunnel does (signals-terminate).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { runStunnelTs, tempDir, writeConf, type Running } from '../helpers/daemon';
import { backend, ending, nextLine, tlsClient } from '../helpers/net';
import { pki } from '../helpers/pki';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function drainingDaemon(drain: number, globals = ''): Promise<{ daemon: Running; port: number; pid: string }> {
  const echo = await backend();
  const dir = tempDir('stunnel-ts-drain-');
  const pid = join(dir, 'stunnel.pid');
  const p = pki();
  const file = writeConf(dir, 'stunnel.conf', `foreground = yes\nsyslog = no\npid = ${pid}\ndebug = 7\nTIMEOUTdrain = ${drain}\n${globals}\n` +
    `[drain]\naccept = 127.0.2.5:0\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`);
  const daemon = runStunnelTs([file]);
  cleanups.push(async () => {
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await daemon.waitFor(/Accepting new connections|Worker \d+ \(pid \d+\) started/);
  return { daemon, port: await daemon.port(), pid };
}

/** One echo round trip on an open client. */
async function roundTrip(tls: import('node:tls').TLSSocket): Promise<void> {
  const bytes = randomBytes(1000);
  const got: Buffer[] = [];
  let n = 0;
  await new Promise<void>((resolve) => {
    const onData = (c: Buffer) => { got.push(c); n += c.length; if (n >= bytes.length) { tls.off('data', onData); resolve(); } };
    tls.on('data', onData);
    tls.write(bytes);
  });
  assert.deepEqual(Buffer.concat(got), bytes);
}

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.2.5', port });
    s.on('connect', () => { s.destroy(); resolve('connected'); });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/**
 * The outcome of a connect once the drain has fenced the listener (LOG7 `… fenced: accepting
 * what is queued, then closing`, logged by the process or by each worker a moment after the
 * Draining line). The fence belongs to the socket, so from its first line on a new SYN is
 * dropped; the client sends it again about a second later and finds the port closed.
 */
async function refusedAfterFence(daemon: Running, port: number): Promise<string> {
  await daemon.waitFor(/ fenced: accepting what is queued, then closing$/);
  return connectOutcome(port);
}

describe('TIMEOUTdrain', () => {
  for (const workers of [1, 2]) {
    test(`TERM with workers = ${workers}: new connects refused, the open tunnel finishes, then Terminated and the pid file last`, async () => {
      const { daemon, port, pid } = await drainingDaemon(30, workers > 1 ? `workers = ${workers}` : '');
      const tls = await tlsClient(port, { host: '127.0.2.5' });
      await roundTrip(tls);
      const draining = nextLine(daemon, /Draining \d+ connection\(s\) for up to 30 s$/);
      daemon.child.kill('SIGTERM');
      assert.match(await draining, /LOG5\[ui\]: Draining 1 connection\(s\) for up to 30 s$/);
      assert.equal(await refusedAfterFence(daemon, port), 'ECONNREFUSED');
      await roundTrip(tls);
      assert.ok(existsSync(pid), 'the pid file stays while draining');
      assert.ok(!daemon.lines.some((l) => / Terminated$/.test(l)));
      tls.end();
      const { code } = await daemon.exited;
      assert.equal(code, 0);
      assert.ok(!existsSync(pid));
      const last = daemon.lines.filter((l) => /LOG\d\[/.test(l)).at(-1) ?? '';
      assert.match(last, /LOG5\[ui\]: Terminated$/);
    });
  }

  test('a second TERM ends the drain at once; the client sees its connection close', async () => {
    const { daemon, port } = await drainingDaemon(60);
    const tls = await tlsClient(port, { host: '127.0.2.5' });
    await roundTrip(tls);
    const closed = ending(tls, 20_000);
    const draining = nextLine(daemon, /Draining 1 connection/);
    daemon.child.kill('SIGTERM');
    await draining;
    const started = Date.now();
    daemon.child.kill('SIGTERM');
    assert.equal((await daemon.exited).code, 0);
    assert.ok(Date.now() - started < 10_000);
    await closed;
    assert.ok(daemon.lines.some((l) => /LOG5\[ui\]: Terminated$/.test(l)));
  });

  test('a HUP during the drain does not bind the listeners again', async () => {
    const { daemon, port } = await drainingDaemon(30);
    const tls = await tlsClient(port, { host: '127.0.2.5' });
    await roundTrip(tls);
    const draining = nextLine(daemon, /Draining 1 connection/);
    daemon.child.kill('SIGTERM');
    await draining;
    const listed = nextLine(daemon, /Listed 1 active connection\(s\)$/);
    daemon.child.kill('SIGHUP');
    daemon.child.kill('SIGUSR2');
    await listed;
    const afterDrain = daemon.lines.slice(daemon.lines.findIndex((l) => /Draining 1 connection/.test(l)));
    assert.deepEqual(afterDrain.filter((l) => /Reading configuration|bound to/.test(l)), []);
    assert.equal(await refusedAfterFence(daemon, port), 'ECONNREFUSED');
    tls.end();
    assert.equal((await daemon.exited).code, 0);
  });

  test('the deadline drops a tunnel that does not end', async () => {
    const { daemon, port } = await drainingDaemon(1);
    const tls = await tlsClient(port, { host: '127.0.2.5' });
    await roundTrip(tls);
    const closed = ending(tls, 20_000);
    const started = Date.now();
    daemon.child.kill('SIGTERM');
    assert.equal((await daemon.exited).code, 0);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 10_000, `exited after ${took} ms`);
    await closed;
  });
});
