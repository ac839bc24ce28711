/**
 * Daemon mode (`foreground = no`): the command returns 0 with the port already accepting;
 * the daemon is detached (own session, cwd /, stdio on /dev/null), writes and removes its
 * pid file, logs `[main]` after start-up; a port in use or a relative pid path exit 1 with
 * the error on stderr.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { exchange } from '../helpers/config';
import { pidFrom, procStatus, stopDaemon, waitForLine } from '../process/harness';
import { runToExit, tlsClient, verifiedByTestCa } from '../helpers/net';
import { BIN } from '../helpers/daemon';
import { EchoBench } from '../process/echo-bench';

const bench = new EchoBench('stunnel-ts-daemon-');
let busy: Server;

before(async () => {
  busy = createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
});
after(() => {
  busy.close();
});

function daemonConf(name: string, port: number): { conf: string; pid: string; log: string } {
  const pid = join(bench.dir, `${name}.pid`);
  const log = join(bench.dir, `${name}.log`);
  const conf = bench.writeEchoConf(name, `pid = ${pid}\noutput = ${log}\nsyslog = no\ndebug = 7`, { accept: port });
  return { conf, pid, log };
}

test('returns 0 with the port accepting; detached daemon with pid file, [main] lines, clean exit', async () => {
  const { conf, pid, log } = daemonConf('ok', 0);
  const run = await runToExit(process.execPath, [BIN, conf]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, '');
  bench.stopAtEnd(pid);

  const bound = await waitForLine(log, / bound to 127\.0\.0\.1:\d+$/);
  const tunnelPort = Number(bound.match(/:(\d+)$/)![1]);
  const tls = await tlsClient(tunnelPort, verifiedByTestCa());
  const result = await exchange(tls, 256 * 1024);
  assert.equal(result.received, result.sent);

  const daemonPid = pidFrom(pid);
  assert.equal(readFileSync(pid, 'utf8'), `${daemonPid}\n`);
  assert.equal(statSync(pid).mode & 0o777, 0o644);
  assert.equal(procStatus(daemonPid, 'PPid'), '1');
  const stat = readFileSync(`/proc/${daemonPid}/stat`, 'utf8').split(') ')[1].split(' ');
  assert.equal(Number(stat[3]), daemonPid, 'the daemon leads its own session');
  assert.equal(readlinkSync(`/proc/${daemonPid}/cwd`), '/');
  for (const fd of [0, 1, 2]) assert.equal(readlinkSync(`/proc/${daemonPid}/fd/${fd}`), '/dev/null');

  assert.match(await waitForLine(log, /Accepting new connections/), /LOG6\[main\]: Accepting new connections$/);
  assert.match(await waitForLine(log, /Created pid file/), new RegExp(`LOG7\\[main\\]: Created pid file ${pid}$`));
  assert.match(await waitForLine(log, / bound to /), /LOG6\[ui\]: Service \[echo\] \(FD=\d+\) bound to /);

  await stopDaemon(pid);
  assert.equal(existsSync(pid), false);
  assert.match(await waitForLine(log, /Terminated/), /LOG5\[main\]: Terminated$/);
});

test('a port in use: exit 1, the bind error on stderr, no pid file', async () => {
  const { conf, pid } = daemonConf('busy', (busy.address() as { port: number }).port);
  const run = await runToExit(process.execPath, [BIN, conf]);
  assert.equal(run.code, 1);
  const port = (busy.address() as { port: number }).port;
  assert.ok(run.stderr.includes(`[.] Binding service [echo] to 127.0.0.1:${port}: Address already in use (98)\n`), run.stderr);
  assert.ok(run.stderr.endsWith('[!] Binding service [echo] failed\n'), run.stderr);
  assert.equal(existsSync(pid), false);
});

test('a relative pid file when daemonizing: exit 1 with stunnel\'s message', async () => {
  const conf = bench.writeEchoConf('relative', 'pid = relative.pid');
  const run = await runToExit(process.execPath, [BIN, conf]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^\[!\] Global options: Pid file must include full path name$/m);
});
