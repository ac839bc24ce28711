/**
 * @module spec/e2e/fips-refused
 * `fips = yes` (stunnel's upstream tests 101, 111–113): without a FIPS provider stunnel 5.68 refuses
 * it in words its own test suite recognises and skips on. stunnel-ts has no FIPS provider either: it
 * refuses the option with the file:line prefix and stunnel's sentence for that case, so the suite
 * skips these tests on both binaries instead of counting failures.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync, rmSync } from 'node:fs';
import { runStunnelTs, tempDir, writeConf } from '../helpers/daemon';
import { runToExit, TEST_GLOBALS } from '../helpers/net';
import { assertPeers, skipWithout } from '../helpers/peers';
import { pki } from '../helpers/pki';

/** The skip patterns of upstream's FIPS tests (tests/plugins/p10_fips.py at stunnel-5.68). */
const UPSTREAM_SKIP = [
  /FIPS provider not available/,
  /fips mode not supported/,
  /FIPS PROVIDER.*could not load the shared library/,
  /FIPS PROVIDER.*missing config data/,
];

const dir = realpathSync(tempDir('stunnel-ts-fips-'));
const p = pki();
/** Upstream 101's two configurations: a client and a server section after `fips = yes`. */
const CONFIGS = {
  client: 'foreground = yes\ndebug = debug\nsyslog = no\n\nfips = yes\n\n[client]\nclient = yes\naccept = 127.0.5.1:0\nconnect = 127.0.5.1:9\n',
  server: `foreground = yes\ndebug = debug\nsyslog = no\n\nfips = yes\n\n[server]\naccept = 127.0.5.1:0\nconnect = 127.0.5.1:9\ncert = ${p.serverCombined}\n`,
};

describe('fips = yes is refused in stunnel\'s words', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, text] of Object.entries(CONFIGS)) {
    test(`${name} configuration: FILE:5: "fips = yes": FIPS provider not available, exit 1`, async () => {
      const file = writeConf(dir, `${name}.conf`, text);
      const r = runStunnelTs([file]);
      r.waitFor(/Accepting new connections/).then(() => r.stop(), () => undefined);
      const { code } = await r.exited;
      const errors = r.lines.filter((l) => l.startsWith('[!] '));
      assert.deepEqual(errors, [`[!] ${file}:5: "fips = yes": FIPS provider not available`, '[!] Configuration failed']);
      assert.equal(code, 1);
      assert.ok(errors.some((l) => UPSTREAM_SKIP.some((re) => re.test(l))), 'upstream suite would skip');
    });
  }

  test('stunnel 5.68 on the same file also fails in words the suite skips on', { skip: skipWithout('stunnel4') }, async () => {
    assertPeers('stunnel4');
    const file = writeConf(dir, 'stunnel4-client.conf', CONFIGS.client);
    const r = await runToExit('stunnel4', [file]);
    assert.equal(r.hung, false);
    assert.equal(r.code, 1);
    assert.match(r.out, /Configuration failed/);
    assert.ok(UPSTREAM_SKIP.some((re) => re.test(r.out)), r.out);
  });

  test('fips = no is accepted (the default) with a notice', async () => {
    const file = writeConf(dir, 'no.conf', `${TEST_GLOBALS}fips = no\n[client]\nclient = yes\naccept = 127.0.5.1:0\nconnect = 127.0.5.1:9\n`);
    const r = runStunnelTs([file]);
    try {
      await r.waitFor(/Configuration successful/);
      assert.ok(r.lines.some((l) => l.endsWith(`LOG5[ui]: ${file}:4: "fips = no": ignored: FIPS mode is off, as by default`)), r.lines.join('\n'));
    } finally {
      await r.stop();
    }
  });
});
