/**
 * @module spec/packaging/systemd
 * systemd/stunnel-ts.service and systemd/stunnel-ts@.service pass `systemd-analyze
 * verify` without a single warning (ExecStart pointed at this checkout's bin/stunnel-ts,
 * the man page of Documentation= found through MANPATH), and carry the settings the
 * forking daemon needs.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/daemon';
import { REPO, run } from './fixtures';

const unavailable = spawnSync('systemd-analyze', ['--version']).status === 0 ? false : 'systemd-analyze is not installed';
const BIN_PATH = join(REPO, 'bin/stunnel-ts');

describe('systemd units', { skip: unavailable }, () => {
  let dir: string;

  before(() => {
    dir = tempDir('stunnel-ts-systemd-');
    mkdirSync(join(dir, 'man/man8'), { recursive: true });
    copyFileSync(join(REPO, 'man/stunnel-ts.8'), join(dir, 'man/man8/stunnel-ts.8'));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The unit as shipped, with ExecStart pointing at this checkout; `edit` changes it further. */
  function unitCopy(name: string, edit: (text: string) => string = (text) => text): string {
    const file = join(dir, name);
    const text = readFileSync(join(REPO, 'systemd', name), 'utf8').replaceAll('/usr/bin/stunnel-ts', BIN_PATH);
    writeFileSync(file, edit(text));
    return file;
  }

  const verify = (file: string) => run('systemd-analyze', ['verify', file], { MANPATH: join(dir, 'man') });

  test('stunnel-ts.service verifies cleanly and is a forking unit with a pid file', async () => {
    const file = unitCopy('stunnel-ts.service');
    assert.deepEqual(await verify(file), { code: 0, stdout: '', stderr: '' });
    const text = readFileSync(file, 'utf8');
    for (const line of ['Type=forking', 'PIDFile=/run/stunnel-ts/stunnel.pid', 'LimitNOFILE=32000',
      'ExecReload=/bin/kill -HUP $MAINPID', `ExecStart=${BIN_PATH} /etc/stunnel/stunnel.conf`]) {
      assert.ok(text.split('\n').includes(line), `missing: ${line}`);
    }
  });

  test('stunnel-ts@.service verifies cleanly and runs one configuration in the foreground', async () => {
    const file = unitCopy('stunnel-ts@.service');
    assert.deepEqual(await verify(file), { code: 0, stdout: '', stderr: '' });
    const text = readFileSync(file, 'utf8');
    for (const line of ['Type=simple', `ExecStart=${BIN_PATH} /etc/stunnel/%i.conf`, 'LimitNOFILE=32000',
      'ExecReload=/bin/kill -HUP $MAINPID']) {
      assert.ok(text.split('\n').includes(line), `missing: ${line}`);
    }
  });

  test('stunnel-ts-notify.service verifies cleanly and is a notify unit with a watchdog', async () => {
    const file = unitCopy('stunnel-ts-notify.service');
    assert.deepEqual(await verify(file), { code: 0, stdout: '', stderr: '' });
    const text = readFileSync(file, 'utf8');
    for (const line of ['Type=notify', 'NotifyAccess=main', `ExecStart=${BIN_PATH} /etc/stunnel/stunnel.conf`,
      'ExecReload=/bin/kill -HUP $MAINPID', 'WatchdogSec=30', 'TimeoutStopSec=90']) {
      assert.ok(text.split('\n').includes(line), `missing: ${line}`);
    }
  });

  test('verify does check: a missing ExecStart program is reported', async () => {
    const file = unitCopy('stunnel-ts.service', (text) => text.replaceAll(BIN_PATH, '/nonexistent/stunnel-ts'));
    const outcome = await verify(file);
    assert.notEqual(outcome.code, 0);
    assert.match(outcome.stderr, /Command \/nonexistent\/stunnel-ts is not executable: No such file or directory/);
  });
});
