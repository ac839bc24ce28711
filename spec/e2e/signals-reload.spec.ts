/**
 * SIGHUP on a running tunnel: transfers in flight finish with correct checksums, no new
 * connection is refused while the configuration is swapped, the new settings take effect
 * (connect moves to another backend), and a broken file keeps the old configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Running } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { heldTransfer } from '../process/harness';
import { nextLine, tlsClient, verifiedByTestCa } from '../helpers/net';
import { EchoBench, FOREGROUND } from '../process/echo-bench';

const bench = new EchoBench('stunnel-ts-hup-', 2);
let daemon: Running;
let port: number;
let conf: string;
let connectTo: (backend: number) => void;

bench.before(async () => {
  ({ daemon, port, conf, connectTo } = await bench.startReloadable('hup', FOREGROUND));
});

/** One short TLS round trip; resolves true when the bytes came back intact. */
async function roundTrip(): Promise<boolean> {
  const result = await exchange(await tlsClient(port, verifiedByTestCa()), 1024);
  return result.received === result.sent;
}

test('reload under load: transfers complete intact, no connection refused, new backend used', async () => {
  const transfers = await Promise.all(Array.from({ length: 6 }, async () => heldTransfer(await tlsClient(port, verifiedByTestCa()), 2 * 1024 * 1024)));

  let reloaded = false;
  let attempts = 0;
  const prober = (async () => {
    while (!reloaded || attempts < 5) {
      attempts++;
      assert.equal(await roundTrip(), true, `connection ${attempts} during the reload`);
    }
  })();

  connectTo(1);
  const success = nextLine(daemon, /Configuration successful/);
  daemon.child.kill('SIGHUP');
  assert.match(await success, /LOG5\[ui\]: Configuration successful$/);
  reloaded = true;
  await prober;

  // The six transfers were half done before the reload; they finish on the old settings.
  for (const result of await Promise.all(transfers.map((t) => t.finish()))) assert.equal(result.received, result.sent);
  const later = await exchange(await tlsClient(port, verifiedByTestCa()), 2048);
  assert.equal(later.received, later.sent);
  assert.ok(daemon.lines.some((l) => new RegExp(`s_connect: connected 127\\.0\\.0\\.1:${bench.echoPort(1)}$`).test(l)),
    'after the reload, connections go to the new backend');
});

test('a broken configuration on reload keeps the old one serving', async () => {
  writeFileSync(conf, 'this is not = valid\n[echo]\nnonsense = 1\n');
  const failed = nextLine(daemon, /Failed to reload the configuration file/);
  daemon.child.kill('SIGHUP');
  assert.match(await failed, /LOG3\[ui\]: Failed to reload the configuration file$/);
  assert.ok(daemon.lines.some((l) => /LOG3\[ui\]: Configuration failed$/.test(l)));
  assert.equal(await roundTrip(), true);
});
