/**
 * @module spec/packaging/debian-init
 * Debian's own /etc/init.d/stunnel4, unchanged, drives the daemon under test: start,
 * status, reload and stop. The only setting changed is the one its defaults file is for:
 * /etc/default/stunnel4 (sourced after the script's `DAEMON=/usr/bin/stunnel4` line)
 * sets DAEMON, FILES and RLIMITS. A scratch copy of that file is bind-mounted over the
 * real one in a private mount namespace (`unshare -m`), so the system is not touched.
 *
 * The script stops and signals with `start-stop-daemon --name` + the base name of DAEMON, which
 * compares /proc/PID/comm: the daemon must name its process after the file it was
 * started as. For a `#!/usr/bin/env node` script comm is `node`, so stunnel-ts has to
 * set it: lib/cli.ts writes /proc/self/comm at start-up.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Server } from 'node:net';
import { pki } from '../helpers/pki';
import {
  DAEMON, alive, limit, reloadAndFollow, run, scratchTunnel, tlsRoundTrip, waitForFile,
  type DaemonConf, type Outcome, type Root,
} from './fixtures';
import { pidFrom } from '../process/harness';
import { peerPath, skipWithout } from '../helpers/peers';

const DEBIAN_SCRIPT = '/etc/init.d/stunnel4';
const DEBIAN_DEFAULTS = '/etc/default/stunnel4';

const unavailable = skipWithout('stunnel4', 'unshare') || !existsSync(DEBIAN_SCRIPT) || !existsSync(DEBIAN_DEFAULTS)
  ? `${DEBIAN_SCRIPT} is not installed (package stunnel4)`
  : spawnSync(peerPath('unshare'), ['-m', 'true']).status !== 0
    ? 'unshare -m is not permitted here (needs root)'
    : false;

/** Runs Debian's init script with the scratch defaults file in place of /etc/default/stunnel4. */
function debianScript(root: Root, action: string): Promise<Outcome> {
  return run(peerPath('unshare'), [
    '-m', 'sh', '-c', `mount --bind "$1" ${DEBIAN_DEFAULTS} && exec ${DEBIAN_SCRIPT} "$2"`, 'sh',
    join(root.dir, 'default'), action,
  ]);
}

describe("Debian's /etc/init.d/stunnel4 with DAEMON set in /etc/default/stunnel4", { skip: unavailable }, () => {
  let backend: Server;
  let root: Root;
  let conf: DaemonConf;
  let daemon: string;
  let pid: number;

  before(async () => {
    ({ backend, root, conf } = await scratchTunnel('stunnel-ts-debian-', 'debian', pki()));
    daemon = DAEMON;
    writeFileSync(join(root.dir, 'default'), [
      `FILES="${root.etc}/*.conf"`,
      `DAEMON=${daemon}`,
      'RLIMITS="-n 16384"',
      '',
    ].join('\n'));
  });

  after(async () => {
    if (existsSync(conf.pidFile)) await debianScript(root, 'stop');
    backend.close();
    rmSync(root.dir, { recursive: true, force: true });
  });

  test('start: the daemon runs, with RLIMITS applied, named after DAEMON', async () => {
    const started = await debianScript(root, 'start');
    assert.equal(started.code, 0, started.stdout + started.stderr);
    assert.equal(started.stdout, `Starting TLS tunnels: ${conf.file}: started\n`);
    await waitForFile(conf.pidFile);
    pid = pidFrom(conf.pidFile);
    assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8'), `${basename(daemon)}\n`);
    assert.deepEqual(limit(pid, 'Max open files'), ['16384', '16384']);
  });

  test('status: running, exit 0', async () => {
    const status = await debianScript(root, 'status');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.equal(status.stdout, `TLS tunnels status: ${conf.file}: running\n`);
  });

  test('reload: the daemon re-reads its configuration and still carries bytes', async () => {
    const [port] = await reloadAndFollow([conf], async () => {
      const reloaded = await debianScript(root, 'reload');
      assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr);
      // Debian's script prints "stopped" for every successful signal, HUP included.
      assert.equal(reloaded.stdout, `Reloading configuration TLS tunnels: ${conf.file}: stopped\n`);
    });
    assert.equal(pidFrom(conf.pidFile), pid);
    const [sent, echoed] = await tlsRoundTrip(port, pki());
    assert.equal(echoed, sent);
  });

  test('stop: the daemon is gone with its pid file', async () => {
    const stopped = await debianScript(root, 'stop');
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    assert.equal(stopped.stdout, `Stopping TLS tunnels: ${conf.file}: stopped\n`);
    assert.equal(alive(pid), false);
    assert.equal(existsSync(conf.pidFile), false);
  });

  test('status after stop: "no pid file", exit 1 (as Debian reports it)', async () => {
    const status = await debianScript(root, 'status');
    assert.equal(status.code, 1);
    assert.equal(status.stdout, `TLS tunnels status: ${conf.file}: no pid file\n`);
  });
});
