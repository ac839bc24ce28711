/**
 * SIGHUP on a running tunnel: transfers in flight finish with correct checksums, no new
 * connection is refused while the configuration is swapped, the new settings take effect
 * (connect moves to another backend), and a broken file keeps the old configuration.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { pki } from '../helpers/pki';
import { runStunnelTs, tempDir, writeConf, type Running } from '../helpers/daemon';
import { closedPort, echoServer, exchange } from '../helpers/config';
import { heldTransfer, nextLine, tlsClient } from '../process/harness';

const p = pki();
const dir = tempDir('stunnel-ts-hup-');
let first: Awaited<ReturnType<typeof echoServer>>;
let second: Awaited<ReturnType<typeof echoServer>>;
let daemon: Running;
let port: number;
let conf: string;

const confText = (backend: number) => `
  foreground = yes
  syslog = no
  debug = 6
  [echo]
  accept = 127.0.0.1:${port}
  connect = 127.0.0.1:${backend}
  cert = ${p.serverCert}
  key = ${p.serverKey}
`;

before(async () => {
  first = await echoServer();
  second = await echoServer();
  port = await closedPort();
  conf = writeConf(dir, 'hup.conf', confText(first.port));
  daemon = runStunnelTs([conf]);
  await daemon.waitFor(/Accepting new connections/);
});
after(async () => {
  await daemon.stop();
  first.server.close();
  second.server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One short TLS round trip; resolves true when the bytes came back intact. */
async function roundTrip(): Promise<boolean> {
  const result = await exchange(await tlsClient(port), 1024);
  return result.received === result.sent;
}

test('reload under load: transfers complete intact, no connection refused, new backend used', async () => {
  const transfers = await Promise.all(Array.from({ length: 6 }, async () => heldTransfer(await tlsClient(port), 2 * 1024 * 1024)));

  let reloaded = false;
  let attempts = 0;
  const prober = (async () => {
    while (!reloaded || attempts < 5) {
      attempts++;
      assert.equal(await roundTrip(), true, `connection ${attempts} during the reload`);
    }
  })();

  writeFileSync(conf, confText(second.port).replace(/^[ \t]+/gm, ''));
  const success = nextLine(daemon, /Configuration successful/);
  daemon.child.kill('SIGHUP');
  assert.match(await success, /LOG5\[ui\]: Configuration successful$/);
  reloaded = true;
  await prober;

  // The six transfers were half done before the reload; they finish on the old settings.
  for (const result of await Promise.all(transfers.map((t) => t.finish()))) assert.equal(result.received, result.sent);
  const later = await exchange(await tlsClient(port), 2048);
  assert.equal(later.received, later.sent);
  assert.ok(daemon.lines.some((l) => new RegExp(`s_connect: connected 127\\.0\\.0\\.1:${second.port}$`).test(l)),
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
