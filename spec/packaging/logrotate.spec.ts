/**
 * @module spec/packaging/logrotate
 * logrotate/stunnel-ts, pointed at a scratch log directory and the scratch init script:
 * `logrotate -f` renames the daemon's `output` file, creates a new one, and its
 * postrotate sends SIGUSR1 (init script `reopen-logs`); the daemon then writes into
 * the new file and nothing more into the rotated one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { pki } from '../helpers/pki';
import {
  DAEMON, INIT_SCRIPT, REPO, lastBoundPort, matchingLines, run, scratchTunnel, tlsRoundTrip, waitForLines,
  type DaemonConf, type Root,
} from './fixtures';
import { peerPath, skipWithout } from '../helpers/peers';
import { ensureUsers } from '../helpers/accounts';

/** The rules create the new file as stunnel4:stunnel4, as Debian's stunnel4 package does. */
const unavailable = skipWithout('logrotate') || ensureUsers('stunnel4');

let backend: Server;
let root: Root;
let conf: DaemonConf;
let initScript: string;

before(async () => {
  ({ backend, root, conf } = await scratchTunnel('stunnel-ts-logrotate-', 'rotated', pki()));
  writeFileSync(join(root.dir, 'default'), `FILES="${root.etc}/*.conf"\nDAEMON="${DAEMON}"\n`);
  // The scratch init script: the real one with the scratch paths, where logrotate expects it.
  initScript = join(root.dir, 'stunnel-ts.init');
  writeFileSync(initScript, [
    '#!/bin/sh',
    `DEFAULTS='${root.dir}/default' CONFDIR='${root.etc}' RUNDIR='${root.run}' exec dash '${INIT_SCRIPT}' "$@"`,
    '',
  ].join('\n'));
  chmodSync(initScript, 0o755);
  const started = await run(initScript, ['start']);
  assert.equal(started.code, 0, started.stdout + started.stderr);
});

after(async () => {
  await run(initScript, ['stop']);
  backend.close();
  rmSync(root.dir, { recursive: true, force: true });
});

test('logrotate -f rotates the output file and the daemon reopens it on SIGUSR1', { skip: unavailable }, async () => {
  const rules = readFileSync(join(REPO, 'logrotate/stunnel-ts'), 'utf8')
    .replaceAll('/var/log/stunnel-ts/', `${root.log}/`)
    .replaceAll('/etc/init.d/stunnel-ts', initScript);
  const rulesFile = join(root.dir, 'logrotate.conf');
  writeFileSync(rulesFile, rules, { mode: 0o644 });
  // The init script returns once the pid file is there; the daemon may still be writing its first lines.
  await waitForLines(conf.logFile, /Accepting new connections/);
  const textBefore = readFileSync(conf.logFile, 'utf8');

  const rotated = await run(peerPath('logrotate'), ['-f', '-s', join(root.dir, 'logrotate.state'), rulesFile]);
  assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);

  // The old lines moved to .1 (delaycompress: not compressed on the first rotation); the
  // daemon may add a few there until it handles SIGUSR1.
  const old = `${conf.logFile}.1`;
  assert.ok(readFileSync(old, 'utf8').startsWith(textBefore));
  // logrotate created the new file as configured, and the daemon reopened into it.
  assert.equal(statSync(conf.logFile).mode & 0o777, 0o640);
  await waitForLines(conf.logFile, /LOG5\[\w+\]: Log file reopened$/);
  const oldLines = matchingLines(old, /./).length;
  const [sent, echoed] = await tlsRoundTrip(lastBoundPort(old), pki());
  assert.equal(echoed, sent);
  await waitForLines(conf.logFile, /Service \[echo\] accepted connection from 127\.0\.0\.1:\d+$/);
  assert.equal(matchingLines(old, /./).length, oldLines, 'nothing more is written to the rotated file');
});
