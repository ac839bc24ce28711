/**
 * `acceptProxy = yes`: the address a PROXY header names is the client for everything that
 * names one: exec's REMOTE_HOST/REMOTE_PORT, and the `(from ADDR:PORT)` of a failed
 * handshake that fail2ban bans on (never the balancer's address).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { runStunnelTs, tempDir, writeConf } from '../helpers/daemon';
import { TEST_GLOBALS, nextLine } from '../helpers/net';
import { pki } from '../helpers/pki';

const dir = tempDir('stunnel-ts-accept-proxy-');
const script = join(dir, 'who.sh');
writeFileSync(script, '#!/bin/sh\necho "$REMOTE_HOST $REMOTE_PORT"\n');
chmodSync(script, 0o755);
const p = pki();
const daemon = runStunnelTs([writeConf(dir, 'stunnel.conf', `${TEST_GLOBALS}debug = info\n[who]\naccept = 127.0.2.8:0\nexec = ${script}\n` +
  `cert = ${p.serverCert}\nkey = ${p.serverKey}\nacceptProxy = yes\n`)]);
after(async () => {
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function proxied(header: string) {
  const raw = connect({ host: '127.0.2.8', port: await daemon.port(), localAddress: '127.0.2.9' });
  await once(raw, 'connect');
  raw.write(header);
  return raw;
}

test("exec's REMOTE_HOST and REMOTE_PORT are the header's client", async () => {
  const raw = await proxied('PROXY TCP4 127.0.9.9 127.0.2.8 40001 443\r\n');
  const tls = tlsConnect({ socket: raw, servername: 'localhost', ca: p.ca.certPem });
  const chunks: Buffer[] = [];
  tls.on('data', (c: Buffer) => chunks.push(c));
  await once(tls, 'end');
  tls.destroy();
  assert.equal(Buffer.concat(chunks).toString(), '127.0.9.9 40001\n');
});

test('a failed handshake names the header\'s client for fail2ban, not the balancer', async () => {
  const line = nextLine(daemon, /SSL_accept: /);
  const raw = await proxied('PROXY TCP4 127.0.9.9 127.0.2.8 40002 443\r\n');
  raw.on('error', () => undefined);
  raw.write(Buffer.from('160301000501020304ff', 'hex'));
  assert.match(await line, /LOG3\[\d+\]: SSL_accept: .* \(from 127\.0\.9\.9:40002\)$/);
  raw.destroy();
});

test('a connection of the balancer itself (v2 LOCAL) keeps its own address and is marked, so fail2ban never bans the balancer', async () => {
  const accepted = nextLine(daemon, /accepted connection from 127\.0\.2\.9:\d+$/);
  const line = nextLine(daemon, /SSL_accept: /);
  const raw = connect({ host: '127.0.2.8', port: await daemon.port(), localAddress: '127.0.2.9' });
  await once(raw, 'connect');
  raw.on('error', () => undefined);
  raw.write(Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'), Buffer.from('160301000501020304ff', 'hex')]));
  await accepted;
  assert.match(await line, new RegExp(`LOG3\\[\\d+\\]: SSL_accept: .* \\(from 127\\.0\\.2\\.9:${raw.localPort}, PROXY LOCAL\\)$`));
  raw.destroy();
});
