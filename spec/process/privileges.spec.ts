/**
 * @module spec/process/privileges
 * chroot and the privilege drop in a real child process, checked from /proc/PID/root and
 * /proc/PID/status; and the error texts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nativeAddon } from '../../lib/native';
import { tempDir } from '../helpers/daemon';

const dir = tempDir('stunnel-ts-priv-');
after(() => rmSync(dir, { recursive: true, force: true }));
const PRIVILEGES = resolve(__dirname, '../../lib/process/privileges.js');

/** Runs enterChroot/dropPrivileges in a child that then waits; resolves with its pid and first output line. */
async function confinedChild(script: string): Promise<{ pid: number; line: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `
    const p = require(${JSON.stringify(PRIVILEGES)});
    try { ${script}; process.stdout.write('ok\\n'); }
    catch (e) { process.stdout.write((e.messages || [e.message]).join('|') + '\\n'); }
    process.stdin.resume();`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = await once(child.stdout, 'data') as [Buffer];
  return {
    pid: child.pid!,
    line: chunk.toString().trim(),
    stop: async () => { child.stdin.end(); await once(child, 'exit'); },
  };
}

function status(pid: number, field: string): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s*(.*)$`, 'm'))![1].trim();
}

test('chroot confines the process and setgroups/setgid/setuid drop to the given ids',
  { skip: nativeAddon() === null && 'addon not built' }, async () => {
    const jail = join(dir, 'jail');
    mkdirSync(jail);
    const child = await confinedChild(`p.enterChroot(${JSON.stringify(jail)}); p.dropPrivileges({ uid: 65534, gid: 65533 })`);
    try {
      assert.equal(child.line, 'ok');
      assert.equal(readlinkSync(`/proc/${child.pid}/root`), jail);
      assert.equal(readlinkSync(`/proc/${child.pid}/cwd`), jail);
      assert.equal(status(child.pid, 'Uid'), '65534\t65534\t65534\t65534');
      assert.equal(status(child.pid, 'Gid'), '65533\t65533\t65533\t65533');
      assert.equal(status(child.pid, 'Groups'), '65533');
    } finally {
      await child.stop();
    }
  });

test('a missing chroot directory fails as stunnel reports it', { skip: nativeAddon() === null && 'addon not built' }, async () => {
  const child = await confinedChild(`p.enterChroot(${JSON.stringify(join(dir, 'nowhere'))})`);
  await child.stop();
  assert.equal(child.line, 'chroot: No such file or directory (2)');
});

test('an unprivileged process cannot change its group: setgroups: Operation not permitted (1)', async () => {
  const child = await confinedChild('p.dropPrivileges({ uid: 65534, gid: null }); p.dropPrivileges({ uid: null, gid: 0 })');
  await child.stop();
  assert.equal(child.line, 'setgroups: Operation not permitted (1)');
});

test('withIdentity: the action runs with the user\'s euid, egid and groups; root is whole again after it',
  { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    chmodSync(dir, 0o755);
    const home = join(dir, 'nobody');
    mkdirSync(home);
    chownSync(home, 65534, 65534);
    const file = join(home, 'made-by-nobody');
    const child = await confinedChild(`
      const ids = () => [process.geteuid(), process.getegid(), process.getgroups().join(',')].join(':');
      const inside = p.withIdentity({ uid: 65534, gid: 65534 }, () => { require('fs').writeFileSync(${JSON.stringify(file)}, ''); return ids(); });
      let refused = 'written';
      try { p.withIdentity({ uid: 65534, gid: 65534 }, () => require('fs').writeFileSync('/etc/stunnel-ts-never', '')); }
      catch (e) { refused = e.code; }
      // confinedChild prints a thrown message as the child's one line.
      throw new Error([inside, ids(), refused, ids()].join(' '))`);
    await child.stop();
    const [inside, after, refused, afterRefusal] = child.line.split(' ');
    assert.equal(inside, '65534:65534:65534');
    assert.equal(after, afterRefusal);
    assert.match(after, /^0:0:/);
    assert.equal(refused, 'EACCES');
    assert.equal(statSync(file).uid, 65534);
  });
