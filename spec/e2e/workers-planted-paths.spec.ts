/**
 * `workers = 2` started as root with `setuid`/`setgid` (issue #16, item 3): the primary keeps
 * root, but the files it touches in directories the service user owns (`output`, `pid`, as
 * Debian's /var/log/stunnel4 and /run/stunnel4) are opened, created and removed with that
 * user's rights. Symlinks planted by the user (nobody here) at start, after a logrotate-style
 * rename (SIGUSR1, SIGHUP) and in place of the pid file's directory lead nowhere: stunnel's
 * `Cannot open log file` / `Cannot create pid file` lines, root's files untouched. stunnel
 * 5.68 (one process, which opens both after its setuid) prints the same lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Running, runStunnelTs } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { havePeers } from '../helpers/peers';
import { nextLine, regexText, tlsClient } from '../process/harness';
import { EchoBench } from '../process/echo-bench';

const NOBODY = 65534;
const bench = new EchoBench('stunnel-ts-planted-');
const skip = process.getuid?.() !== 0 && 'needs root (the attack is on root\'s files)';

/** A case's directories: `home` owned by the service user, `root` root's own (mode 0700) with the victims. */
function layout(name: string): { home: string; root: string } {
  chmodSync(bench.dir, 0o755);
  const home = join(bench.dir, name, 'home');
  const root = join(bench.dir, name, 'root');
  mkdirSync(home, { recursive: true });
  chownSync(home, NOBODY, NOBODY);
  mkdirSync(root, { mode: 0o700 });
  return { home, root };
}

/** What the service user does: a symlink of its own at `path`. */
function plant(target: string, path: string): void {
  symlinkSync(target, path);
  lchownSync(path, NOBODY, NOBODY);
}

/** A foreground configuration running as nobody with `output` and `pid` where given. */
function conf(name: string, files: { output: string; pid?: string }, workers = 2): string {
  const globals = ['foreground = yes', 'syslog = no', 'debug = 6', `setuid = ${NOBODY}`, `setgid = ${NOBODY}`,
    `output = ${files.output}`, files.pid ? `pid = ${files.pid}` : '', workers > 1 ? `workers = ${workers}` : ''];
  return bench.writeEchoConf(name, globals.join('\n'));
}

/** Runs a start that must fail: resolves with its exit code once it printed `re` (or started, which fails the test). */
async function failedStart(daemon: Running, re: RegExp): Promise<number | null> {
  bench.stopAtEnd(daemon);
  const [line] = await daemon.waitFor(new RegExp(`${re.source}|Accepting new connections`));
  assert.match(line, re, daemon.lines.join('\n'));
  return (await daemon.exited).code;
}

function stunnel4(file: string): Running {
  return new Running(spawn('stunnel4', [file], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

test('start: the log file is the user\'s symlink to a new or an existing root file → Cannot open log file', { skip }, async (t) => {
  const { home, root } = layout('start');
  const existing = join(root, 'existing');
  writeFileSync(existing, 'root data\n', { mode: 0o644 });
  for (const [target, file] of [[join(root, 'ld.so.preload'), 'new.log'], [existing, 'existing.log']]) {
    const output = join(home, file);
    plant(target, output);
    const cannot = new RegExp(`^\\[!\\] Cannot open log file: ${regexText(output)}$`);
    assert.equal(await failedStart(runStunnelTs([conf(file, { output })]), cannot), 1);
    if (havePeers(t, 'stunnel4')) assert.equal(await failedStart(stunnel4(conf(`${file}-theirs`, { output }, 1)), cannot), 1);
  }
  assert.equal(existsSync(join(root, 'ld.so.preload')), false, 'root created no file through the symlink');
  assert.equal(readFileSync(existing, 'utf8'), 'root data\n', 'no line was appended to root\'s file');
});

test('SIGUSR1 and SIGHUP after a rotation: a symlink planted at the log\'s name is not followed', { skip }, async () => {
  const { home, root } = layout('rotate');
  const output = join(home, 'stunnel.log');
  const daemon = runStunnelTs([conf('rotate', { output })]);
  bench.stopAtEnd(daemon);
  await daemon.waitFor(/Accepting new connections/);
  assert.equal(statSync(output).uid, NOBODY, 'the log file the primary created belongs to the service user');
  const result = await exchange(await tlsClient(await daemon.port()), 4096);
  assert.equal(result.received, result.sent);

  const victim = join(root, 'victim');
  renameSync(output, output + '.1');
  plant(victim, output);
  const cannot = new RegExp(`LOG3\\[ui\\]: Cannot open log file: ${regexText(output)}$`);
  const reopenFailed = nextLine(daemon, cannot);
  daemon.child.kill('SIGUSR1');
  await reopenFailed;
  const reloadFailed = nextLine(daemon, /LOG3\[ui\]: Failed to reload the configuration file$/);
  daemon.child.kill('SIGHUP');
  await reloadFailed;
  assert.equal(existsSync(victim), false, 'root created no file through the symlink');
  await daemon.stop();
  assert.equal(existsSync(victim), false);
});

test('pid file: a directory that is the user\'s symlink at start → Cannot create pid file', { skip }, async (t) => {
  const { home, root } = layout('pidstart');
  plant(root, join(home, 'run'));
  const pid = join(home, 'run', 'stunnel.pid');
  const lines = [`Cannot create pid file ${pid}`, 'create: Permission denied (13)'];
  const check = async (daemon: Running) => {
    // After the log opened, as `[!] text` (ours) or as a foreground log line (stunnel's).
    const code = await failedStart(daemon, new RegExp(`(?:^\\[!\\] |LOG3\\[ui\\]: )${regexText(lines[0])}$`));
    assert.equal(code, 1);
    assert.ok(daemon.lines.some((l) => l.endsWith(` ${lines[1]}`)), daemon.lines.join('\n'));
  };
  await check(runStunnelTs([conf('pidstart', { output: join(home, 'ours.log'), pid })]));
  if (havePeers(t, 'stunnel4')) await check(stunnel4(conf('pidstart-theirs', { output: join(home, 'theirs.log'), pid }, 1)));
  assert.equal(existsSync(join(root, 'stunnel.pid')), false, 'root created no pid file through the symlink');
});

test('pid file: its directory swapped for the user\'s symlink while serving → root\'s file of that name survives the exit', { skip }, async () => {
  const { home, root } = layout('pidswap');
  const run = join(home, 'run');
  mkdirSync(run);
  chownSync(run, NOBODY, NOBODY);
  const pid = join(run, 'stunnel.pid');
  const daemon = runStunnelTs([conf('pidswap', { output: join(home, 'stunnel.log'), pid })]);
  bench.stopAtEnd(daemon);
  await daemon.waitFor(/Accepting new connections/);
  assert.equal(readFileSync(pid, 'utf8'), `${daemon.child.pid}\n`);
  assert.equal(statSync(pid).uid, NOBODY, 'written with the service user\'s rights');

  const victim = join(root, 'stunnel.pid');
  writeFileSync(victim, 'root data\n');
  renameSync(run, run + '.old');
  plant(root, run);
  await daemon.stop();
  assert.equal((await daemon.exited).code, 0);
  assert.equal(readFileSync(victim, 'utf8'), 'root data\n', 'root removed nothing through the symlink');
});
