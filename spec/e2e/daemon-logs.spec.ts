/**
 * The daemon's logs: `output` reopened on SIGUSR1 after logrotate-style renaming, and
 * syslog datagrams (`<29>… stunnel: LOG5[ui]: …`) received on a test socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAddon } from '../../lib/native';
import { SYSLOG_PATH_ENV } from '../../lib/log';
import { pidFrom, runToExit, stopDaemon, waitForLine } from '../process/harness';
import { EchoBench } from '../process/echo-bench';

const bench = new EchoBench('stunnel-ts-logs-');

/** A daemon-mode echo configuration `NAME.conf` with its pid file (the daemon is stopped after the tests). */
function conf(name: string, extra: string): { conf: string; pid: string } {
  const pid = join(bench.dir, `${name}.pid`);
  bench.stopAtEnd(pid);
  return { pid, conf: bench.writeEchoConf(name, `pid = ${pid}\n${extra}`) };
}

test('SIGUSR1 reopens the output file after it was renamed away', async () => {
  const log = join(bench.dir, 'rotate.log');
  const { conf: file, pid } = conf('rotate', `output = ${log}\nsyslog = no`);
  const run = await runToExit([file]);
  assert.equal(run.code, 0, run.stderr);
  await waitForLine(log, /Configuration successful/);
  renameSync(log, log + '.1');
  process.kill(pidFrom(pid), 'SIGUSR1');
  assert.match(await waitForLine(log, /Log file reopened/), /^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG5\[main\]: Log file reopened$/);
  assert.match(readFileSync(log + '.1', 'utf8'), /LOG5\[ui\]: Configuration successful/);
  await stopDaemon(pid);
  assert.match(await waitForLine(log, /Terminated/), /LOG5\[main\]: Terminated$/);
});

test('syslog gets LOGn[id] lines with ident and facility', { skip: nativeAddon() === null && 'addon not built' }, async () => {
  const addon = nativeAddon()!;
  const socketPath = join(bench.dir, 'log.sock');
  const fd = addon.dgramBind(socketPath);
  assert.ok(fd >= 0, `bind ${socketPath}`);
  try {
    const { conf: file, pid } = conf('syslog', 'service = tunnelbox\ndebug = local3.notice');
    const run = await runToExit([file], { [SYSLOG_PATH_ENV]: socketPath });
    assert.equal(run.code, 0, run.stderr);
    await stopDaemon(pid);
    // The daemon has exited: every datagram is already queued on our socket.
    const received: string[] = [];
    for (let datagram = addon.dgramReceive(fd, 0); Buffer.isBuffer(datagram); datagram = addon.dgramReceive(fd, 0)) {
      received.push(datagram.toString());
    }
    const facility = 19; // local3
    assert.ok(received.some((d) => new RegExp(`^<${facility * 8 + 5}>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d tunnelbox: LOG5\\[ui\\]: Configuration successful$`).test(d)), received.join('\n'));
    assert.ok(received.some((d) => /^<157>.* tunnelbox: LOG5\[main\]: Terminated$/.test(d)), received.join('\n'));
    assert.ok(!received.some((d) => /LOG[67]\[/.test(d)), 'nothing above the notice level');
  } finally {
    addon.close(fd);
  }
});
