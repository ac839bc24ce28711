/**
 * chroot + setuid/setgid on a real daemon, read from /proc: the process is confined to the
 * jail and runs as the dropped user; pid file and log live inside the jail (written after
 * the drop, so owned by it); tunnels still work; a reload inside the jail cannot read the
 * configuration outside it and keeps the old one serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { exchange } from '../helpers/config';
import { nativeAddon } from '../../lib/native';
import { assertConfined, pidFrom, stopDaemon, tlsClient, waitForLine } from '../process/harness';
import { EchoBench } from '../process/echo-bench';

const NOBODY = 65534;
const { jail, pidFile, logFile, start } = new EchoBench('stunnel-ts-jail-').jail(NOBODY);

test('confined to the jail as nobody:nogroup, tunnels work, a reload cannot leave the jail',
  { skip: nativeAddon() === null && 'native addon not built' }, async () => {
    const run = await start();
    assert.equal(run.code, 0, run.stderr);
    const pid = pidFrom(pidFile);
    assertConfined(pid, NOBODY, jail);
    assert.equal(statSync(pidFile).uid, NOBODY, 'pid file written after the drop');
    assert.equal(statSync(logFile).uid, NOBODY, 'log opened after the drop');

    const port = Number((await waitForLine(logFile, / bound to /)).match(/:(\d+)$/)![1]);
    const first = await exchange(await tlsClient(port), 64 * 1024);
    assert.equal(first.received, first.sent);

    process.kill(pid, 'SIGHUP');
    await waitForLine(logFile, /Failed to reload the configuration file/);
    assert.match(await waitForLine(logFile, /Cannot open configuration file/), /LOG3\[main\]: Cannot open configuration file$/);
    const second = await exchange(await tlsClient(port), 64 * 1024);
    assert.equal(second.received, second.sent, 'the old configuration keeps serving');

    await stopDaemon(pidFile);
    assert.equal(existsSync(pidFile), false, 'the dropped user could remove its pid file');
  });
