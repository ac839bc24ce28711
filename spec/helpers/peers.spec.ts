/**
 * The one door for outside programs: a program missing from PATH skips the test with the
 * package that brings it, records the skip for the run's summary line, and fails instead
 * when STUNNEL_TS_REQUIRE_PEERS=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './daemon';
import { assertPeers, findProgram, havePeers, skipWithout } from './peers';

/** Runs `body` with PATH an empty directory (looked at alone) and a fresh skip log. */
function onEmptyPath(body: (skipLog: string) => void): void {
  const saved = { ...process.env };
  const dir = tempDir('stunnel-ts-peers-');
  Object.assign(process.env, { PATH: dir, STUNNEL_TS_PEERS_PATH_ONLY: '1', STUNNEL_TS_SKIP_LOG: join(dir, 'skips') });
  delete process.env.STUNNEL_TS_REQUIRE_PEERS;
  try {
    body(join(dir, 'skips'));
  } finally {
    for (const name of ['PATH', 'STUNNEL_TS_PEERS_PATH_ONLY', 'STUNNEL_TS_SKIP_LOG', 'STUNNEL_TS_REQUIRE_PEERS']) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  }
}

test('a missing program: the skip reason names it and its package, and the skip is logged with its place', () => {
  onEmptyPath((skipLog) => {
    assert.equal(findProgram('fail2ban-regex'), null);
    assert.equal(skipWithout('fail2ban-regex', 'tinyproxy'), 'needs fail2ban-regex, tinyproxy (apt-get install fail2ban tinyproxy)');
    assert.match(readFileSync(skipLog, 'utf8'), /^fail2ban tinyproxy\t.*peers\.spec\.js:\d+:\d+\)?\n$/);
  });
});

test('STUNNEL_TS_REQUIRE_PEERS=1: not skipped, and asking for the program fails naming it', () => {
  onEmptyPath((skipLog) => {
    process.env.STUNNEL_TS_REQUIRE_PEERS = '1';
    assert.equal(skipWithout('socat'), false);
    assert.throws(() => assertPeers('socat'), { message: 'STUNNEL_TS_REQUIRE_PEERS=1 and this test needs socat (apt-get install socat)' });
    assert.throws(() => havePeers({ skip: () => undefined }, 'socat'), /needs socat/);
    assert.throws(() => readFileSync(skipLog), { code: 'ENOENT' }, 'nothing recorded as skipped');
  });
});

test('a program on PATH is found, and nothing is skipped', () => {
  assert.equal(findProgram('node') !== null || findProgram('sh') !== null, true);
  onEmptyPath(() => {
    let skipped = '';
    assert.equal(havePeers({ skip: (m = '') => { skipped = m; } }, 'openssl'), false);
    assert.equal(skipped, 'needs openssl (apt-get install openssl)');
  });
});
