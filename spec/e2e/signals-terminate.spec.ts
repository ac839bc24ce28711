/**
 * TERM, INT and QUIT end a foreground run with exit 0, their own log line and the pid file
 * removed; USR2 lists the active connections at LOG0.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { pki } from '../helpers/pki';
import { runStunnelTs, tempDir, writeConf } from '../helpers/daemon';
import { echoServer } from '../helpers/config';
import { nextLine, tlsClient } from '../process/harness';

const p = pki();
const dir = tempDir('stunnel-ts-signals-');
let echo: Awaited<ReturnType<typeof echoServer>>;

before(async () => {
  echo = await echoServer();
});
after(() => {
  echo.server.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(name: string) {
  const pid = join(dir, `${name}.pid`);
  const conf = writeConf(dir, `${name}.conf`, `
    foreground = yes
    syslog = no
    debug = 6
    pid = ${pid}
    [echo]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${echo.port}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
  return { pid, daemon: runStunnelTs([conf]) };
}

for (const [signal, line] of [
  ['SIGTERM', 'LOG5[ui]: Terminated'],
  ['SIGINT', 'LOG3[ui]: Received SIGINT; terminating'],
  ['SIGQUIT', 'LOG3[ui]: Received SIGQUIT; terminating'],
] as const) {
  test(`${signal}: exit 0, "${line}", pid file removed`, async () => {
    const { pid, daemon } = start(signal);
    await daemon.waitFor(/Accepting new connections/);
    assert.equal(readFileSync(pid, 'utf8'), `${daemon.child.pid}\n`);
    daemon.child.kill(signal);
    const { code } = await daemon.exited;
    assert.equal(code, 0);
    assert.ok(daemon.lines.some((l) => l.endsWith(line)), daemon.lines.join('\n'));
    assert.equal(existsSync(pid), false);
  });
}

test('SIGUSR2 lists active connections at LOG0 with their byte counts', async () => {
  const { daemon } = start('usr2');
  await daemon.waitFor(/Accepting new connections/);
  const tls = await tlsClient(await daemon.port());
  tls.write('hello!');
  await once(tls, 'data');
  const listed = nextLine(daemon, /Listed \d+ active connection\(s\)/);
  daemon.child.kill('SIGUSR2');
  assert.match(await listed, /LOG0\[ui\]: Listed 1 active connection\(s\)$/);
  const text = daemon.lines.join('\n');
  assert.match(text, /LOG0\[ui\]: Active connections:\n.*LOG0\[ui\]: Active connection 1: Service \[echo\], 6 byte\(s\) sent to TLS, 6 byte\(s\) sent to socket\n/);
  tls.destroy();
  await daemon.stop();
});
