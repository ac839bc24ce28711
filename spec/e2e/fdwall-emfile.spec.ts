/**
 * The file-descriptor wall under `ulimit -n 64`: transfers in flight finish intact while a
 * burst of connections exhausts the descriptors, the wall is logged once for the burst, and
 * new connections succeed again once the others have closed. And a raised `ulimit -n`
 * shows in /proc/PID/limits and in the start-up line naming the limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Running } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { heldTransfer, openDescriptors } from '../process/harness';
import { tlsClient, verifiedByTestCa } from '../helpers/net';
import { EchoBench, FOREGROUND } from '../process/echo-bench';

const bench = new EchoBench('stunnel-ts-fdwall-');
/** The descriptor limit (`ulimit -n`) of the wall run. */
const LIMIT = 64;
/**
 * Free descriptors the transfers must leave for the burst: stunnel-ts meets its wall a few
 * below the limit (it keeps a reserve for a tunnel's far side), so the burst needs more.
 */
const BURST_ROOM = 8;

/**
 * How many descriptors `pid` holds below the limit. They are handed out lowest-first, so
 * these are the slots it cannot give a new socket; one inherited above the limit takes none.
 */
function slotsTaken(pid: number): number {
  return openDescriptors(pid).filter((fd) => fd < LIMIT).length;
}

/** A plain TCP connection that holds one of the daemon's descriptors (no handshake); null if refused. */
async function hold(port: number): Promise<Socket | null> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const [event] = await Promise.race([once(socket, 'connect').then(() => ['connect']), once(socket, 'close').then(() => ['close'])]);
  return event === 'connect' ? socket : null;
}

/** A TLS round trip; false when the daemon dropped the connection (suspended, or out of descriptors). */
async function tryRoundTrip(port: number): Promise<boolean> {
  let socket;
  try {
    socket = await tlsClient(port, verifiedByTestCa());
  } catch {
    return false;
  }
  socket.on('error', () => undefined);
  const dropped = once(socket, 'close').then(() => null);
  const result = await Promise.race([exchange(socket, 4096), dropped]);
  socket.destroy();
  return result !== null && result.received === result.sent;
}

interface WallRun {
  readonly daemon: Running;
  readonly port: number;
  readonly transferCount: number;
  readonly results: Array<{ sent: string; received: string }>;
}

/** The wall runs shared by the tests below (by the descriptors inherited high in the table): transfers held, a burst that meets the wall, everything closed again. */
const wallRuns = new Map<string, Promise<WallRun>>();
/** Descriptors a leaky process manager could hand down into the top slots, where the wall is watched for. */
const HIGH_INHERITED = [60, 61, 62, 63];

/**
 * THE WALL, SIZED FROM /proc. A held transfer costs the daemon two descriptors (client and
 * backend), a raw TCP connection waiting for its handshake one, and each of them counts
 * against the client limit the daemon logs at start (`clients allowed: N`, (64 - 6) / 2 =
 * 29 here). A burst one larger than the slots still free below the limit surely meets the
 * wall (stunnel's accept() fails with EMFILE there; stunnel-ts sees it a few sooner). How
 * many slots the daemon holds of its own depends on the descriptors it inherited (a shell
 * and CI differ), so the number of transfers comes from /proc: enough that filling every
 * free slot stays within the client limit (no connection is refused as one too many
 * before the wall), few enough to leave the burst its room.
 */
function hitTheWall(inherited: readonly number[] = []): Promise<WallRun> {
  const key = inherited.join(',');
  const run = wallRuns.get(key) ?? (async () => {
    const daemon = await bench.startForeground(bench.writeEchoConf(`wall${key.replace(/,/g, '-')}`, FOREGROUND), { openFiles: LIMIT, inherited });
    const port = await daemon.port();
    const clients = Number((await daemon.waitFor(/; clients allowed: (\d+)$/))[1]);
    const pid = daemon.child.pid!;
    const high = openDescriptors(pid).filter((fd) => fd >= LIMIT - BURST_ROOM && fd < LIMIT);
    assert.deepEqual(high, inherited.filter((fd) => fd >= LIMIT - BURST_ROOM), 'the descriptors inherited into the top slots');
    const own = slotsTaken(pid);
    // With t transfers, LIMIT - own - 2t slots stay free; filling them all makes LIMIT - own - t
    // clients, one fewer than allowed when t is this (but hold at least 4 transfers):
    const withinClients = Math.max(LIMIT - own - clients + 1, 4);
    const leavingBurstRoom = Math.floor((LIMIT - own - BURST_ROOM) / 2);
    const transferCount = Math.min(withinClients, leavingBurstRoom);
    const transfers = await Promise.all(Array.from({ length: transferCount }, async () => heldTransfer(await tlsClient(port, verifiedByTestCa()), 256 * 1024)));
    const free = LIMIT - slotsTaken(pid);
    assert.ok(transferCount >= 1 && free >= BURST_ROOM && transferCount + free <= clients,
      `the daemon holds ${own} descriptors of its own: ${transferCount} transfers leave ${free} free of ${LIMIT}, no wall within ${clients} clients`);

    const wall = daemon.waitFor(/Accepting new connections suspended for 1 second$/);
    const burst = await Promise.all(Array.from({ length: free + 1 }, () => hold(port)));
    await wall;
    const results = await Promise.all(transfers.map((t) => t.finish()));
    // Some were already closed by the daemon's side at the wall; close the rest.
    await Promise.all(burst.filter((s): s is Socket => s !== null && !s.closed).map((s) => { const closed = once(s, 'close'); s.destroy(); return closed; }));
    await everyConnectionEnded(daemon);
    return { daemon, port, transferCount, results };
  })();
  wallRuns.set(key, run);
  return run;
}

/**
 * Waits for the `Connection …:` line of every connection the daemon accepted: it closes a
 * connection's descriptors as it writes that line, so then its table is as before the run.
 */
async function everyConnectionEnded(daemon: Running): Promise<void> {
  const ids = daemon.lines.map((l) => l.match(/LOG5\[([\d.]+)\]: Service \[echo\] accepted connection from /)?.[1]).filter((id) => id !== undefined);
  for (const id of ids) await daemon.waitFor(new RegExp(`LOG\\d\\[${id.replace('.', '\\.')}\\]: Connection [\\w/]+: `));
}

test('ulimit -n 64: transfers in flight finish intact and service resumes after the burst', async () => {
  const { daemon, port, transferCount, results } = await hitTheWall();
  assert.equal(results.length, transferCount);
  for (const result of results) assert.equal(result.received, result.sent);
  assert.equal(daemon.child.exitCode, null, 'the daemon survived the wall');
  // Accepting may stay suspended for a second after the wall: retry, each attempt after the previous one failed.
  let attempts = 0;
  const deadline = Date.now() + 5000; // backstop
  while (!(await tryRoundTrip(port))) {
    attempts++;
    assert.ok(Date.now() < deadline, `no connection succeeded after the wall (${attempts} attempts):\n${daemon.lines.slice(-20).join('\n')}`);
  }
});

test('ulimit -n 64: the wall is logged once per burst, never a flood', async () => {
  const { daemon } = await hitTheWall();
  const wall = daemon.lines.filter((l) => /LOG3\[ui\]: local socket: Too many open files \(24\)$/.test(l));
  const suspended = daemon.lines.filter((l) => /LOG5\[ui\]: Accepting new connections suspended for 1 second$/.test(l));
  assert.equal(wall.length, 1, daemon.lines.join('\n'));
  assert.equal(suspended.length, 1, daemon.lines.join('\n'));
});

test('descriptors inherited into the top slots: the wall is still seen and logged once, transfers intact', async () => {
  const { daemon, transferCount, results } = await hitTheWall(HIGH_INHERITED);
  assert.equal(results.length, transferCount);
  for (const result of results) assert.equal(result.received, result.sent);
  assert.equal(daemon.lines.filter((l) => /LOG3\[ui\]: local socket: Too many open files \(24\)$/.test(l)).length, 1, daemon.lines.join('\n'));
  assert.equal(daemon.child.exitCode, null, 'the daemon survived the wall');
});

test('a raised ulimit -n shows in /proc/PID/limits and in the start-up line', async () => {
  const daemon = await bench.startForeground(bench.writeEchoConf('raised', FOREGROUND), { openFiles: 16384 });
  const line = await daemon.waitFor(/Open files limit: /);
  assert.match(line.input!, /LOG5\[ui\]: Open files limit: 16384 \(hard 16384\); clients allowed: 8000$/);
  const limits = readFileSync(`/proc/${daemon.child.pid}/limits`, 'utf8');
  assert.match(limits, /^Max open files\s+16384\s+16384\s+files/m);
  await daemon.stop();
});
