/**
 * The run's sweep finds processes by the marker in their environment (kept by a daemon that
 * detaches) and by the run's directory in their command line, and never this process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tempDir } from './daemon';
import { findMarked, killAll } from './proc-scan';

test('a detached child carrying a marker is found and killed; unmarked processes are not found', async () => {
  const marker = `STUNNEL_TS_SCAN_TEST=${process.pid}-${Date.now()}`;
  const [name, value] = marker.split('=');
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore', env: { ...process.env, [name]: value } });
  const exited = once(child, 'exit');
  const found = findMarked({ env: marker });
  assert.deepEqual(found.map((f) => f.pid), [child.pid]);
  assert.equal(findMarked({ env: `${marker}x` }).length, 0);
  killAll(found);
  const [, signal] = await exited;
  assert.equal(signal, 'SIGKILL');
});

test('a process naming the run directory on its command line is found', async () => {
  const root = tempDir('stunnel-ts-scan-');
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', `${root}/some.conf`], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  assert.deepEqual(findMarked({ root }).map((f) => f.pid), [child.pid]);
  killAll(findMarked({ root }));
  await exited;
});
