/**
 * systemd's notification protocol (process/notify) against a real datagram socket standing in
 * for systemd's NOTIFY_SOCKET, a file path and an abstract '@name': READY=1 once listening,
 * RELOADING=1 with MONOTONIC_USEC then READY=1 around SIGHUP, STOPPING=1 on TERM, in that
 * order, and WATCHDOG=1 when WATCHDOG_USEC is set. Without NOTIFY_SOCKET nothing is sent.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAddon } from '../../lib/native';
import { runStunnelTs, tempDir, writeConf } from '../helpers/daemon';
import { pki } from '../helpers/pki';

const addon = nativeAddon();
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** The next datagram that is not a watchdog ping (counted in `pings`); with `ping`, the next datagram of any kind. */
function nextState(fd: number, pings: { count: number }, backstopMs = 15_000, ping = false): string {
  const deadline = Date.now() + backstopMs;
  while (Date.now() < deadline) {
    const got = addon!.dgramReceive(fd, Math.max(1, deadline - Date.now()));
    if (got === null) break;
    if (typeof got === 'number') throw new Error(`receive failed: ${got}`);
    const text = got.toString();
    if (text !== 'WATCHDOG=1') return text;
    pings.count++;
    if (ping) return text;
  }
  throw new Error('backstop: no notification');
}

describe('systemd notifications', { skip: addon === null ? 'the native addon is not built' : false }, () => {
  for (const kind of ['path', 'abstract'] as const) {
    test(`READY, RELOADING + READY, STOPPING in order, and the watchdog (${kind} NOTIFY_SOCKET)`, async () => {
      const dir = tempDir('stunnel-ts-notify-');
      dirs.push(dir);
      const socketName = kind === 'path' ? join(dir, 'notify.sock') : `@stunnel-ts-notify-${process.pid}-${Date.now()}`;
      const fd = addon!.dgramBind(socketName);
      assert.ok(fd >= 0, `bind ${socketName}: ${fd}`);
      const p = pki();
      const file = writeConf(dir, 'stunnel.conf', `foreground = yes\nsyslog = no\npid =\ndebug = info\n[n]\naccept = 127.0.2.6:0\nconnect = 127.0.0.1:9\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`);
      const daemon = runStunnelTs([file], { NOTIFY_SOCKET: socketName, WATCHDOG_USEC: '1000000' });
      try {
        const pings = { count: 0 };
        assert.equal(nextState(fd, pings), 'READY=1');
        await daemon.waitFor(/Accepting new connections/);
        // Half of WATCHDOG_USEC later, the first ping.
        assert.equal(nextState(fd, pings, 3000, true), 'WATCHDOG=1');
        daemon.child.kill('SIGHUP');
        const reloading = nextState(fd, pings);
        assert.match(reloading, /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
        assert.equal(nextState(fd, pings), 'READY=1');
        daemon.child.kill('SIGTERM');
        assert.equal(nextState(fd, pings), 'STOPPING=1');
        assert.equal((await daemon.exited).code, 0);
      } finally {
        daemon.child.kill('SIGKILL');
        await daemon.exited;
        addon!.close(fd);
      }
    });
  }
});
