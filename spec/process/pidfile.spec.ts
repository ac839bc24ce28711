/**
 * @module spec/process/pidfile
 * The pid file: `PID\n`, mode 0644, a stale file replaced, removed once and only if
 * the name still leads to it, symlinks never followed, errors in stunnel's shape.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PidFile } from '../../lib/process/pidfile';
import { tempDir } from '../helpers/daemon';

const dir = tempDir('stunnel-ts-pid-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('writes PID and a newline with mode 0644, replacing a stale file, and removes it', () => {
  const path = join(dir, 'run.pid');
  writeFileSync(path, '99999\n', { mode: 0o600 });
  const pidFile = new PidFile(path, 4242);
  pidFile.create();
  assert.equal(readFileSync(path, 'utf8'), '4242\n');
  assert.equal(statSync(path).mode & 0o777, 0o644);
  pidFile.remove();
  assert.equal(existsSync(path), false);
  pidFile.remove();
});

test('a pid file that cannot be created fails with stunnel\'s two lines', () => {
  const path = join(dir, 'no-such-dir', 'x.pid');
  assert.throws(() => new PidFile(path).create(),
    { name: 'StartupError', messages: [`Cannot create pid file ${path}`, 'create: No such file or directory (2)'] });
});

test('a symlink at the name is not followed: the pid file is not created through it', () => {
  const target = join(dir, 'target');
  const path = join(dir, 'link.pid');
  symlinkSync(target, path);
  const pidFile = new PidFile(path, 4242);
  pidFile.create();
  assert.equal(existsSync(target), false, 'the stale symlink is removed, never followed');
  assert.equal(lstatSync(path).isFile(), true);
  pidFile.remove();
});

test('at exit, a name that leads to another file than the one written is left alone', () => {
  const path = join(dir, 'swapped.pid');
  const pidFile = new PidFile(path, 4242);
  pidFile.create();
  renameSync(path, path + '.moved');
  writeFileSync(path, 'someone else\n');
  pidFile.remove();
  assert.equal(readFileSync(path, 'utf8'), 'someone else\n');
});
