/**
 * @module spec/packaging/init-script
 * init.d/stunnel-ts under dash in a scratch root: RLIMITS reach the daemons (one limit
 * and several at once), one daemon per configuration file, reload (HUP) keeps serving,
 * stop removes the pid file, and status answers with the LSB codes.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { pki } from '../helpers/pki';
import {
  DAEMON, INIT_SCRIPT, alive, daemonConf, echoServer, lastBoundPort, limit, reloadAndFollow, run,
  scratchRoot, tlsRoundTrip, type DaemonConf, type Outcome, type Root,
} from './fixtures';
import { pidFrom } from '../process/harness';

/** Runs the init script with dash, its defaults file in the scratch root. */
function initScript(root: Root, action: string, name?: string): Promise<Outcome> {
  return run('dash', [INIT_SCRIPT, action, ...(name ? [name] : [])], {
    DEFAULTS: join(root.dir, 'default'), CONFDIR: root.etc, RUNDIR: root.run,
  });
}

function writeDefaults(root: Root, rlimits: string): void {
  writeFileSync(join(root.dir, 'default'), [
    `FILES="${root.etc}/*.conf"`,
    `RLIMITS="${rlimits}"`,
    `DAEMON="${DAEMON}"`,
    '',
  ].join('\n'));
}

let backend: Server;
let backendPort: number;
const roots: Root[] = [];

before(async () => {
  ({ server: backend, port: backendPort } = await echoServer());
});

after(async () => {
  for (const root of roots) {
    await initScript(root, 'stop');
    rmSync(root.dir, { recursive: true, force: true });
  }
  backend.close();
});

describe('one configuration, RLIMITS="-n 16384"', () => {
  let root: Root;
  let conf: DaemonConf;
  let pid: number;

  before(() => {
    root = scratchRoot('stunnel-ts-init-');
    roots.push(root);
    conf = daemonConf(root, 'tunnel', pki(), backendPort);
    writeDefaults(root, '-n 16384');
  });

  test('start runs the daemon with the limit, soft and hard', async () => {
    const started = await initScript(root, 'start');
    assert.equal(started.code, 0, started.stdout + started.stderr);
    pid = pidFrom(conf.pidFile);
    assert.match(started.stdout, new RegExp(`${conf.file}: started \\(pid ${pid}\\)`));
    assert.deepEqual(limit(pid, 'Max open files'), ['16384', '16384']);
  });

  test('status is 0 and names the pid', async () => {
    const status = await initScript(root, 'status');
    assert.equal(status.code, 0);
    assert.match(status.stdout, new RegExp(`${conf.file}: running \\(pid ${pid}\\)`));
  });

  test('start again leaves the running daemon alone', async () => {
    const again = await initScript(root, 'start');
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already running/);
    assert.equal(pidFrom(conf.pidFile), pid);
  });

  test('reload sends SIGHUP and the tunnel still carries bytes', async () => {
    const before = lastBoundPort(conf.logFile);
    const [sentBefore, echoedBefore] = await tlsRoundTrip(before, pki());
    assert.equal(echoedBefore, sentBefore);
    const [port] = await reloadAndFollow([conf], async () => {
      const reloaded = await initScript(root, 'reload');
      assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr);
      assert.match(reloaded.stdout, /reloaded/);
    });
    assert.equal(pidFrom(conf.pidFile), pid, 'a reload keeps the same process');
    const [sent, echoed] = await tlsRoundTrip(port, pki());
    assert.equal(echoed, sent);
  });

  test('stop ends the daemon and its pid file is gone', async () => {
    const stopped = await initScript(root, 'stop');
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`${conf.file}: stopped`));
    assert.equal(existsSync(conf.pidFile), false);
    assert.equal(alive(pid), false);
  });

  test('status is 3 once stopped', async () => {
    const status = await initScript(root, 'status');
    assert.equal(status.code, 3);
    assert.match(status.stdout, /not running/);
  });

  test('status is 1 when a pid file outlives its daemon, and stop clears it', async () => {
    writeFileSync(conf.pidFile, `${pid}\n`);
    const status = await initScript(root, 'status');
    assert.equal(status.code, 1);
    assert.match(status.stdout, /dead, but the pid file .* exists/);
    const stopped = await initScript(root, 'stop');
    assert.equal(stopped.code, 0);
    assert.equal(existsSync(conf.pidFile), false);
  });

  test('reload of a stopped daemon is 7 (not running)', async () => {
    const reloaded = await initScript(root, 'reload');
    assert.equal(reloaded.code, 7);
  });
});

describe('two configurations, RLIMITS="-n 16384 -c 0" (two limits under dash)', () => {
  let root: Root;
  let confs: DaemonConf[];

  before(() => {
    root = scratchRoot('stunnel-ts-init2-');
    roots.push(root);
    confs = ['first', 'second'].map((name) => daemonConf(root, name, pki(), backendPort));
    writeDefaults(root, '-n 16384 -c 0');
  });

  test('start runs one daemon per file, each with both limits', async () => {
    const started = await initScript(root, 'start');
    assert.equal(started.code, 0, started.stdout + started.stderr);
    const pids = confs.map((c) => pidFrom(c.pidFile));
    assert.notEqual(pids[0], pids[1]);
    for (const pid of pids) {
      assert.deepEqual(limit(pid, 'Max open files'), ['16384', '16384']);
      assert.deepEqual(limit(pid, 'Max core file size'), ['0', '0']);
    }
    for (const conf of confs) {
      const [sent, echoed] = await tlsRoundTrip(lastBoundPort(conf.logFile), pki());
      assert.equal(echoed, sent);
    }
  });

  test('reload signals both daemons, and both still carry bytes', async () => {
    const ports = await reloadAndFollow(confs, async () => {
      const reloaded = await initScript(root, 'reload');
      assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr);
      assert.equal(reloaded.stdout.match(/: reloaded \(pid \d+\)$/gm)?.length, 2);
    });
    for (const port of ports) {
      const [sent, echoed] = await tlsRoundTrip(port, pki());
      assert.equal(echoed, sent);
    }
  });

  test('stop NAME stops only that one; status is then 3', async () => {
    const stopped = await initScript(root, 'stop', 'second');
    assert.equal(stopped.code, 0);
    assert.equal(existsSync(confs[1].pidFile), false);
    assert.equal(existsSync(confs[0].pidFile), true);
    const status = await initScript(root, 'status');
    assert.equal(status.code, 3);
    assert.match(status.stdout, /first\.conf: running/);
    assert.match(status.stdout, /second\.conf: not running/);
  });

  test('stop ends the rest; status is 3', async () => {
    const stopped = await initScript(root, 'stop');
    assert.equal(stopped.code, 0);
    for (const conf of confs) assert.equal(existsSync(conf.pidFile), false);
    assert.equal((await initScript(root, 'status')).code, 3);
  });
});

describe('configuration parsing and RLIMITS errors (no daemon started)', () => {
  let root: Root;

  before(() => {
    root = scratchRoot('stunnel-ts-init3-');
    roots.push(root);
  });

  test('pid comes from the global section only, skips comments, honours chroot', async () => {
    const file = join(root.etc, 'jailed.conf');
    writeFileSync(file, [
      '# pid = /wrong/commented.pid',
      '  PID   =  /run/jailed.pid  ',
      `chroot = ${root.dir}/jail/`,
      '[svc]',
      'pid = /wrong/in-a-section.pid',
      '',
    ].join('\n'));
    writeDefaults(root, '');
    const pidFile = join(root.dir, 'jail/run/jailed.pid');
    mkdirSync(join(root.dir, 'jail/run'), { recursive: true });
    writeFileSync(pidFile, '999999\n');
    const status = await initScript(root, 'status');
    assert.equal(status.code, 1);
    assert.equal(status.stdout, `TLS tunnels (stunnel-ts) status:\n  ${file}: dead, but the pid file ${pidFile} exists\n`);
    rmSync(file);
  });

  test('a configuration with "foreground = yes" is not started (it would never return)', async () => {
    writeDefaults(root, '');
    const file = join(root.etc, 'fg.conf');
    writeFileSync(file, `pid = ${root.run}/fg.pid\nFOREGROUND = Yes\n[svc]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n`);
    const started = await initScript(root, 'start');
    assert.equal(started.code, 1);
    assert.match(started.stdout, new RegExp(`${file}: not started \\("foreground =" is set`));
    rmSync(file);
  });

  test('a limit above the hard limit stops the start with a message', async () => {
    writeDefaults(root, '-n 16384 -n 99999999');
    daemonConf(root, 'never', pki(), backendPort);
    const started = await initScript(root, 'start');
    assert.equal(started.code, 1);
    assert.match(started.stderr, /RLIMITS: 'ulimit -n 99999999' failed/);
    assert.equal(existsSync(join(root.run, 'never.pid')), false);
  });

  test('a malformed RLIMITS is refused before anything starts', async () => {
    writeDefaults(root, '-n');
    const started = await initScript(root, 'start');
    assert.equal(started.code, 1);
    assert.match(started.stderr, /RLIMITS: '-n' needs a value/);
  });

  test('an unknown action prints the usage and exits 2', async () => {
    const usage = await initScript(root, 'bogus');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^Usage: .*\{start\|stop\|restart\|try-restart\|reload\|force-reload\|reopen-logs\|status\} \[NAME\]$/m);
  });
});
