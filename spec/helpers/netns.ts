/**
 * @module spec/helpers/netns
 * A spec file that runs itself in a network namespace of its own (`unshare -n`), and with
 * `mount` in a private mount namespace too (to bind a resolv.conf of its own over
 * /etc/resolv.conf, seen by nothing outside). Outside, the file's one test starts the namespace
 * on the file and asserts that every test passed in there; inside, the caller declares its tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { havePeers, type PeerName } from './peers';

const INSIDE = 'STUNNEL_TS_IN_NETNS';

/**
 * True inside the namespace (declare the tests); outside, declares the test that runs `file` in
 * one, asking first for `unshare`, `ip` (and `mount`) and the `peers` the tests inside need.
 */
export function inOwnNamespace(file: string, name: string, options: { mount?: boolean; peers?: PeerName[] } = {}): boolean {
  if (process.env[INSIDE] === '1') return true;
  const flags = options.mount ? ['-n', '-m', '--propagation', 'private'] : ['-n'];
  test(name, (t) => {
    if (!havePeers(t, 'unshare', 'ip', ...(options.mount ? ['mount' as const] : []), ...(options.peers ?? []))) return;
    const probe = spawnSync('unshare', [...flags, 'true']);
    if (probe.status !== 0) {
      t.skip(`cannot create a namespace here (unshare ${flags.join(' ')}: ${String(probe.stderr).trim() || probe.error?.message})`);
      return;
    }
    // A run of its own, not a child of this runner (which would report to it, not to stdout).
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
    const run = spawnSync('unshare', [...flags, process.execPath, '--test', '--test-reporter=spec', file], {
      env: { ...env, [INSIDE]: '1' }, encoding: 'utf8', timeout: 150_000,
    });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /ℹ fail 0/);
  });
  return false;
}
