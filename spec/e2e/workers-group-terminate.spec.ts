/**
 * `workers = 2` when TERM reaches every process at once, as `pkill stunnel-ts` or systemd's
 * KillMode=control-group deliver it: the workers end by themselves while the primary is
 * still telling them to; the primary still shuts down cleanly (exit 0, pid file removed),
 * without an internal error.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pki } from '../helpers/pki';
import { runStunnelTs, tempDir, writeConf } from '../helpers/daemon';
import { echoServer } from '../helpers/config';
import { startedWorkers } from '../process/workers-harness';

/** Resolves once `pid` has exited and waits for its parent to reap it (state Z in /proc). */
async function becomesZombie(pid: number): Promise<void> {
  const deadline = Date.now() + 10000; // backstop
  while (!/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) {
    assert.ok(Date.now() < deadline, `worker ${pid} did not exit after TERM`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const p = pki();
const dir = tempDir('stunnel-ts-workers-group-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('TERM to the primary and every worker at once: exit 0, pid file removed, no internal error', async () => {
  const echo = await echoServer();
  const pidFile = join(dir, 'stunnel.pid');
  const conf = writeConf(dir, 'group.conf', `
    foreground = yes
    syslog = no
    debug = 6
    workers = 2
    pid = ${pidFile}
    [echo]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${echo.port}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
  const daemon = runStunnelTs([conf]);
  try {
    await daemon.waitFor(/Accepting new connections/);
    const workers = await startedWorkers(daemon, 2);
    assert.ok(existsSync(pidFile));
    // The worst order, made certain: the workers have ended (their channels closed) before the
    // primary, held stopped meanwhile, takes its own TERM and tells them to stop.
    const primary = daemon.child.pid!;
    process.kill(primary, 'SIGSTOP');
    for (const pid of workers.values()) process.kill(pid, 'SIGTERM');
    for (const pid of workers.values()) await becomesZombie(pid);
    process.kill(primary, 'SIGTERM');
    process.kill(primary, 'SIGCONT');
    const { code } = await daemon.exited;
    assert.equal(code, 0, daemon.lines.join('\n'));
    assert.ok(daemon.lines.some((l) => /LOG5\[ui\]: Terminated$/.test(l)), daemon.lines.join('\n'));
    assert.deepEqual(daemon.lines.filter((l) => /Internal error/.test(l)), []);
    assert.equal(existsSync(pidFile), false, 'the pid file is removed');
  } finally {
    await daemon.stop();
    echo.server.close();
  }
});
