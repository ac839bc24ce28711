/**
 * The accounts helper creates what a test needs on a machine without Debian's packages:
 * tried on names of its own (never `stunnel4` itself, which other runs on the machine use),
 * removed afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ensureGroups, ensureUsers, groupExists, namesAccount, userExists } from './accounts';

const notRoot = process.getuid?.() !== 0 && 'creating system accounts needs root';

test('a missing system user is created with its group (useradd --system), once', { skip: notRoot }, (t) => {
  const name = `stts-u${process.pid}`;
  t.after(() => { spawnSync('userdel', [name]); spawnSync('groupdel', [name]); });
  assert.equal(userExists(name), false);
  assert.equal(ensureUsers(name), false);
  assert.equal(userExists(name), true);
  assert.equal(groupExists(name), true);
  assert.equal(ensureUsers(name), false, 'a second call finds it');
});

test('a missing system group is created (groupadd --system)', { skip: notRoot }, (t) => {
  const name = `stts-g${process.pid}`;
  t.after(() => { spawnSync('groupdel', [name]); });
  assert.equal(groupExists(name), false);
  assert.equal(ensureGroups(name), false);
  assert.equal(groupExists(name), true);
});

test('an account that cannot be made gives the reason to skip', { skip: notRoot }, () => {
  assert.match(String(ensureUsers('no such:user')), /^needs the system user no such:user \(useradd .* failed: /);
});

test('namesAccount: a setuid or setgid line naming the account', () => {
  assert.equal(namesAccount('foreground = yes\nsetuid = stunnel4\n', 'stunnel4'), true);
  assert.equal(namesAccount(' setgid=stunnel4\n', 'stunnel4'), true);
  assert.equal(namesAccount('setuid = stunnel\n; setuid = stunnel4\n', 'stunnel4'), false);
});
