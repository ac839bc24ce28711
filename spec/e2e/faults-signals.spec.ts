/**
 * @module spec/e2e/faults-signals
 * Signals during 100 running transfers (real binary, server mode, echo backend):
 * SIGHUP — every transfer completes with the right SHA-256; SIGTERM — the process exits 0
 * and no transfer gets corrupted bytes (each either completed intact or was cut short).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { echoTunnel, nextLine, primedTransfer, type EchoTunnel, type PrimedTransfer } from '../helpers/net';
import { sha256 } from '../helpers/config';

const TRANSFERS = 100;
const SIZE = 512 * 1024;
const cleanups: Array<() => Promise<void> | void> = [];

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function daemonWithEcho(): Promise<EchoTunnel> {
  const tunnel = await echoTunnel('debug = 6\nTIMEOUTclose = 1', '', 'echo');
  cleanups.push(() => tunnel.stop());
  return tunnel;
}

/** 100 transfers whose first 64 KiB already made the round trip: all of them live at once. */
async function hundredLive(port: number): Promise<PrimedTransfer[]> {
  const live: PrimedTransfer[] = [];
  for (let i = 0; i < TRANSFERS; i += 25) {
    live.push(...await Promise.all(Array.from({ length: 25 }, () => primedTransfer(port, SIZE))));
  }
  return live;
}

test('SIGHUP during 100 transfers: the configuration is reloaded and every transfer completes intact', { timeout: 60_000 }, async () => {
  const { daemon, port } = await daemonWithEcho();
  const live = await hundredLive(port);
  const reloaded = nextLine(daemon, /Configuration successful|Failed to reload/);
  daemon.child.kill('SIGHUP');
  assert.match(await reloaded, /Configuration successful/);
  const results = await Promise.all(live.map((t) => t.finish()));
  const intact = results.filter((r, i) => r.how === 'end' && sha256(r.data) === sha256(live[i].payload)).length;
  assert.equal(intact, TRANSFERS, 'every transfer echoed its 512 KiB with the same SHA-256');
  assert.equal(daemon.child.exitCode, null, 'still running');
});

test('SIGTERM during 100 transfers: exit code 0, and no transfer received a corrupted byte', { timeout: 60_000 }, async (t) => {
  const { daemon, port } = await daemonWithEcho();
  const live = await hundredLive(port);
  daemon.child.kill('SIGTERM');
  const results = await Promise.all(live.map((tr) => tr.finish()));
  const exit = await daemon.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(daemon.lines.some((l) => /LOG5\[ui\]: Terminated$/.test(l)), 'stunnel\'s "Terminated" line');
  let complete = 0;
  results.forEach((r, i) => {
    const prefix = live[i].payload.subarray(0, r.data.length);
    assert.ok(r.data.equals(prefix), `transfer ${i}: the ${r.data.length} bytes received are exactly what was sent`);
    if (r.data.length === SIZE) complete++;
  });
  t.diagnostic(`${complete} of ${TRANSFERS} transfers completed before the exit, ${TRANSFERS - complete} were cut short`);
});
