/**
 * `workers = 2` as a daemon with chroot + setuid/setgid, read from /proc: each worker is
 * confined to the jail and runs as the dropped user; the primary (which must start
 * replacements that read the keys) stays root outside the jail and writes the pid file
 * with its own pid where the configuration puts it inside the jail; the log file it
 * creates belongs to the dropped user, so the workers can append to it, and all of them
 * reopen it on SIGUSR1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync, renameSync, statSync } from 'node:fs';
import { exchange } from '../helpers/config';
import { nativeAddon } from '../../lib/native';
import { assertConfined, linesMatching, pidFrom, procStatus, stopDaemon, tlsClient, waitForLine } from '../process/harness';
import { EchoBench } from '../process/echo-bench';
import { onlyWorker } from '../process/workers-harness';

const NOBODY = 65534;
const { jail, pidFile, logFile, start } = new EchoBench('stunnel-ts-workers-jail-').jail(NOBODY);

test('workers run as nobody:nogroup inside the jail; the primary keeps root and the pid file',
  { skip: nativeAddon() === null && 'native addon not built' }, async () => {
    const run = await start('workers = 2');
    assert.equal(run.code, 0, run.stderr);
    const primary = pidFrom(pidFile);
    assert.equal(procStatus(primary, 'Uid'), '0\t0\t0\t0');
    assert.equal(readlinkSync(`/proc/${primary}/root`), '/');
    assert.equal(statSync(logFile).uid, NOBODY, 'the log file belongs to the dropped user');

    await waitForLine(logFile, /Accepting new connections$/);
    const workers = linesMatching(logFile, /Worker \d+ \(pid \d+\) started$/).map((l) => Number(l.match(/pid (\d+)/)![1]));
    assert.equal(workers.length, 2);
    for (const pid of workers) {
      assert.equal(procStatus(pid, 'PPid'), String(primary));
      assertConfined(pid, NOBODY, jail);
    }

    const port = Number((await waitForLine(logFile, / bound to /)).match(/:(\d+)$/)![1]);
    const result = await exchange(await tlsClient(port), 64 * 1024);
    assert.equal(result.received, result.sent);
    await waitForLine(logFile, /LOG5\[\d+\.\d+\]: Connection closed/);

    // USR1 after logrotate's rename: the primary and every worker write to the new file.
    renameSync(logFile, logFile + '.1');
    process.kill(primary, 'SIGUSR1');
    await waitForLine(logFile, /LOG5\[main\]: Log file reopened$/);
    const ids = new Map(linesMatching(logFile + '.1', /Worker \d+ \(pid \d+\) started$/)
      .map((l) => l.match(/Worker (\d+) \(pid (\d+)\)/)!.slice(1).map(Number) as [number, number]));
    for (const id of ids.keys()) {
      await onlyWorker(ids, id, async () => {
        const socket = await tlsClient(port);
        await waitForLine(logFile, new RegExp(`LOG5\\[${id}\\.\\d+\\]: Service \\[echo\\] accepted connection from 127\\.0\\.0\\.1:${socket.localPort}$`));
        const again = await exchange(socket, 1024);
        assert.equal(again.received, again.sent);
      });
    }

    await stopDaemon(pidFile);
    assert.equal(linesMatching(logFile + '.1', / bound to /).length, 1, 'one worker shows the start-up lines');
  });
