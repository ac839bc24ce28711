/**
 * TERM, INT and QUIT end a foreground run with exit 0, their own log line and the pid file
 * removed; USR2 lists the active connections at LOG0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Running } from '../helpers/daemon';
import { nextLine, tlsClient, verifiedByTestCa } from '../helpers/net';
import { EchoBench, FOREGROUND } from '../process/echo-bench';

const bench = new EchoBench('stunnel-ts-signals-');

/** Starts a foreground daemon with the pid file `NAME.pid`; resolves once it accepts connections. */
async function start(name: string): Promise<{ pid: string; daemon: Running }> {
  const pid = join(bench.dir, `${name}.pid`);
  return { pid, daemon: await bench.startForeground(bench.writeEchoConf(name, `${FOREGROUND}\npid = ${pid}`)) };
}

for (const [signal, line] of [
  ['SIGTERM', 'LOG5[ui]: Terminated'],
  ['SIGINT', 'LOG3[ui]: Received SIGINT; terminating'],
  ['SIGQUIT', 'LOG3[ui]: Received SIGQUIT; terminating'],
] as const) {
  test(`${signal}: exit 0, "${line}", pid file removed`, async () => {
    const { pid, daemon } = await start(signal);
    assert.equal(readFileSync(pid, 'utf8'), `${daemon.child.pid}\n`);
    daemon.child.kill(signal);
    const { code } = await daemon.exited;
    assert.equal(code, 0);
    assert.ok(daemon.lines.some((l) => l.endsWith(line)), daemon.lines.join('\n'));
    assert.equal(existsSync(pid), false);
  });
}

test('SIGUSR2 lists active connections at LOG0 with their byte counts', async () => {
  const { daemon } = await start('usr2');
  const tls = await tlsClient(await daemon.port(), verifiedByTestCa());
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
