/**
 * `accept = PATH` (a Unix socket) with `setuid`/`setgid`: root binds the socket and gives it
 * to the service user, often in a directory that user owns (Debian's /run/stunnel4). Between
 * bind and the owner change the user can swap the path for a symlink (or, where the kernel's
 * protected_hardlinks is off, a hard link) to a file of root's: a chown by path would hand
 * that file to the user. The change goes through a descriptor of the socket file itself
 * (native chownSocket): a swapped path is refused and root's file keeps its owner.
 *
 * The swap itself is a race; these specs replay what the attacker leaves at the path when
 * it wins (a symlink, a hard link), on the call the listener makes, and then race a real
 * attacker against real starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { nativeAddon } from '../../lib/native';
import { errnoMessage } from '../../lib/errno';
import { runStunnelTs, writeConf, type Running } from '../helpers/daemon';
import { EchoBench, echoConf } from '../process/echo-bench';
import { havePeers, skipWithout } from '../helpers/peers';

const NOBODY = 65534;
const bench = new EchoBench('stunnel-ts-socket-owner-');
const skip = process.getuid?.() !== 0 ? 'needs root (the attack is on root\'s files)'
  : nativeAddon() === null ? 'needs the native addon (npm install builds it)' : false;

/** The service user's directory, and root's file the attacker wants. */
function layout(name: string): { home: string; victim: string } {
  chmodSync(bench.dir, 0o755);
  const home = join(bench.dir, name, 'home');
  mkdirSync(home, { recursive: true });
  chownSync(home, NOBODY, NOBODY);
  const victim = join(bench.dir, name, 'shadow');
  writeFileSync(victim, 'root:secret\n', { mode: 0o600 });
  return { home, victim };
}

/** An echo tunnel accepting on the Unix socket `socket`, running as nobody. */
function conf(name: string, socket: string): string {
  const text = echoConf(`foreground = yes\nsyslog = no\ndebug = 6\nsetuid = ${NOBODY}\nsetgid = ${NOBODY}`, { backend: bench.echoPort() });
  return writeConf(bench.dir, `${name}.conf`, text.replace(/^accept = .*$/m, `accept = ${socket}`));
}

test('a daemon gives its Unix socket to the setuid/setgid user', { skip }, async () => {
  const { home } = layout('plain');
  const socket = join(home, 'tls.sock');
  const daemon = runStunnelTs([conf('plain', socket)]);
  bench.stopAtEnd(daemon);
  await daemon.waitFor(/Configuration successful/);
  const stat = lstatSync(socket);
  assert.ok(stat.isSocket());
  assert.deepEqual([stat.uid, stat.gid], [NOBODY, NOBODY]);
});

test('the path swapped for a symlink or a hard link to root\'s file: refused, the file keeps its owner', { skip }, () => {
  const { home, victim } = layout('swapped');
  const addon = nativeAddon()!;
  const viaSymlink = join(home, 'symlinked.sock');
  symlinkSync(victim, viaSymlink);
  const viaHardLink = join(home, 'hardlinked.sock');
  linkSync(victim, viaHardLink);
  for (const path of [viaSymlink, viaHardLink]) {
    const rc = addon.chownSocket(path, NOBODY, NOBODY);
    assert.equal(rc, -osConstants.errno.ENOTSOCK, path);
    assert.equal(errnoMessage(rc), 'Socket operation on non-socket (88)');
  }
  const stat = statSync(victim);
  assert.deepEqual([stat.uid, stat.gid, stat.mode & 0o777], [0, 0, 0o600], 'root\'s file is still root\'s');
});

test('an attacker swapping the socket for a symlink during 15 starts never gets root\'s file', { skip: skip || skipWithout('python3') }, async (t) => {
  if (!havePeers(t, 'python3')) return;
  const { home, victim } = layout('race');
  const socket = join(home, 'tls.sock');
  const file = conf('race', socket);
  // As nobody: keep renaming a fresh symlink to root's file over whatever sits at the socket's name.
  const attacker = spawn('python3', ['-c', [
    'import os, sys',
    `home, victim = ${JSON.stringify(home)}, ${JSON.stringify(victim)}`,
    'os.setgid(65534); os.setuid(65534)',
    'spare = os.path.join(home, "spare")',
    'while True:',
    '    try:',
    '        if os.path.lexists(os.path.join(home, "tls.sock")) and not os.path.islink(os.path.join(home, "tls.sock")):',
    '            os.symlink(victim, spare); os.rename(spare, os.path.join(home, "tls.sock"))',
    '    except OSError:',
    '        pass',
  ].join('\n')], { stdio: 'ignore' });
  t.after(() => attacker.kill('SIGKILL'));
  for (let i = 0; i < 15; i++) {
    const daemon: Running = runStunnelTs([file]);
    bench.stopAtEnd(daemon);
    // Either it serves (the attacker lost the race) or its bind/owner change is refused: both end here.
    await daemon.waitFor(/Configuration successful|Binding service \[[^\]]+\] failed|Socket operation on non-socket/);
    daemon.child.kill('SIGKILL');
    await daemon.exited;
  }
  const stat = statSync(victim);
  assert.deepEqual([stat.uid, stat.gid], [0, 0], 'root\'s file is still root\'s');
});
