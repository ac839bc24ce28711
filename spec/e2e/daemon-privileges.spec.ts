/**
 * chroot + setuid/setgid on a real daemon, read from /proc: the process is confined to the
 * jail and runs as the dropped user; pid file and log live inside the jail (written after
 * the drop, so owned by it); tunnels still work; a reload inside the jail cannot read the
 * configuration outside it and keeps the old one serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, statSync } from 'node:fs';
import { tempDir, writeConf } from '../helpers/daemon';
import { echoServer, exchange } from '../helpers/config';
import { nativeAddon } from '../../lib/process/native';
import { assertConfined, jailedEchoConf, makeJail, pidFrom, runToExit, stopDaemon, tlsClient, waitForLine } from '../process/harness';

const NOBODY = 65534;
const dir = tempDir('stunnel-ts-jail-');
const { jail, pidFile, logFile } = makeJail(dir, NOBODY);
let echo: Awaited<ReturnType<typeof echoServer>>;

before(async () => {
  echo = await echoServer();
});
after(async () => {
  await stopDaemon(pidFile);
  echo.server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('confined to the jail as nobody:nogroup, tunnels work, a reload cannot leave the jail',
  { skip: nativeAddon() === null && 'native addon not built' }, async () => {
    const conf = writeConf(dir, 'jailed.conf', jailedEchoConf(jail, NOBODY, echo.port));
    const run = await runToExit([conf]);
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
