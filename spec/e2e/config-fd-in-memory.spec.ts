/**
 * `-fd N` as root (issue #16, item 4): the configuration read from the descriptor stays in
 * memory. A service user who plants a symlink or a pre-created file at the temp name the
 * text used to be written to (`$TMPDIR/stunnel-ts-fd-PID-N`, PID known as the shell's `$$`
 * before `exec`) neither gets a root file overwritten nor reads `protocolPassword`; in
 * daemon mode the child still starts from the same text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Running } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { stopDaemon, tlsClient, waitForLine } from '../process/harness';
import { EchoBench, FOREGROUND } from '../process/echo-bench';

const NOBODY = 65534;
/** A line the attacker must not read (a comment: the whole text used to be copied). */
const SECRET = '; protocolPassword = s3cret-from-fd';
const bench = new EchoBench('stunnel-ts-config-fd-');
const isRoot = process.getuid?.() === 0;

/** A TMPDIR the service user owns, with `plant(path)` run as the shell's pid is known, then stunnel-ts exec'd with `-fd 3` on `conf`. */
function startFromFd(conf: string, plant: string, tmp: string): Running {
  const script = `${plant}; exec "$0" "$1" -fd 3 3<"$2"`;
  return new Running(spawn('sh', ['-c', script, process.execPath, BIN, conf], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp },
  }));
}

/** A temp dir owned by nobody (as /tmp is writable by anyone), and a root-owned victim file beside it. */
function attackerTmp(name: string): { tmp: string; victim: string } {
  const tmp = join(bench.dir, `${name}-tmp`);
  mkdirSync(tmp, { mode: 0o755 });
  chownSync(tmp, NOBODY, NOBODY);
  const victim = join(bench.dir, `${name}-victim`);
  writeFileSync(victim, 'root data\n', { mode: 0o644 });
  return { tmp, victim };
}

test('foreground -fd 3: a planted symlink at the temp name leaves the root file as it was',
  { skip: !isRoot && 'needs root (the attack is on root\'s files)' }, async () => {
    const { tmp, victim } = attackerTmp('symlink');
    const conf = bench.writeEchoConf('symlink', `${FOREGROUND}\n${SECRET}`);
    // The service user's symlink, made before stunnel-ts runs (lchown: it belongs to nobody).
    const plant = `ln -s ${victim} ${tmp}/stunnel-ts-fd-$$-3 && chown -h ${NOBODY}:${NOBODY} ${tmp}/stunnel-ts-fd-$$-3`;
    const daemon = startFromFd(conf, plant, tmp);
    bench.stopAtEnd(daemon);
    await daemon.waitFor(/Accepting new connections/);
    const result = await exchange(await tlsClient(await daemon.port()), 4096);
    assert.equal(result.received, result.sent);
    await daemon.stop();
    assert.equal(readFileSync(victim, 'utf8'), 'root data\n', 'the symlink target is untouched');
    assert.ok(daemon.lines.some((l) => /LOG5\[ui\]: Reading configuration from descriptor 3$/.test(l)), daemon.lines.join('\n'));
  });

test('daemon -fd 3: a pre-created 0666 file at the temp name gets no byte; the child serves the text',
  { skip: !isRoot && 'needs root (the attack is on root\'s files)' }, async () => {
    const { tmp } = attackerTmp('precreated');
    const pid = join(bench.dir, 'precreated.pid');
    const log = join(bench.dir, 'precreated.log');
    const conf = bench.writeEchoConf('precreated', `pid = ${pid}\noutput = ${log}\nsyslog = no\ndebug = 6`, { extra: SECRET });
    bench.stopAtEnd(pid);
    // The service user's file (and the link it keeps to read it later): world-writable, empty.
    const planted = (p: string) => `install -o ${NOBODY} -g ${NOBODY} -m 0666 /dev/null ${p} && ln ${p} ${tmp}/kept-$$`;
    const daemon = startFromFd(conf, planted(`${tmp}/stunnel-ts-fd-$$-3`), tmp);
    const { code } = await daemon.exited;
    assert.equal(code, 0, daemon.lines.join('\n'));
    const bound = await waitForLine(log, / bound to 127\.0\.0\.1:\d+$/);
    const result = await exchange(await tlsClient(Number(bound.match(/:(\d+)$/)![1])), 4096);
    assert.equal(result.received, result.sent);
    await stopDaemon(pid);
    const kept = readdirSync(tmp).filter((name) => name.startsWith('kept-'));
    assert.equal(kept.length, 1);
    assert.equal(readFileSync(join(tmp, kept[0]), 'utf8'), '', 'nothing was written to the planted file');
  });
