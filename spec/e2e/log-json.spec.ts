/**
 * `logFormat = json` (stunnel-ts extension): every line on the sink is one JSON object
 * (JSON.parse and jq agree), `debug =` filters as in text mode, and the `Connection closed`
 * object summarizes the connection: bytes each way equal to what was sent, TLS version,
 * cipher, SNI, resumption, the verified client certificate's subject.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { connect as tlsConnect } from 'node:tls';
import type { Running } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { assertPeers, skipWithout } from '../helpers/peers';
import { pki } from '../helpers/pki';
import { EchoBench } from '../process/echo-bench';

const p = pki();
const bench = new EchoBench('stunnel-ts-logjson-');
const SIZE = 100_000;
let daemon: Running;
let port: number;

bench.before(async () => {
  const conf = bench.writeEchoConf('json', 'foreground = yes\nsyslog = no\ndebug = 6\nlogFormat = json',
    { extra: `CAfile = ${p.caFile}\nverifyChain = yes\ndebug = 5` });
  daemon = await bench.startForeground(conf);
  port = Number((await daemon.waitFor(/bound to 127\.0\.0\.1:(\d+)"/))[1]);
});

test('a connection: every line parses, debug = 5 holds, the close object sums it up', { skip: skipWithout('jq') }, async () => {
  assertPeers('jq');
  const socket = tlsConnect({
    host: '127.0.0.1', port, ca: p.ca.certPem, servername: 'localhost', cert: p.client.certPem, key: p.client.keyPem, minVersion: 'TLSv1.3',
  });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  const localPort = socket.localPort;
  const cipher = socket.getCipher().name;
  const result = await exchange(socket, SIZE);
  assert.equal(result.received, result.sent);
  const closeLine = await daemon.waitFor(/"event":"close"/);
  const summary = JSON.parse(closeLine.input!);
  assert.equal(summary.message, `Connection closed: ${SIZE} byte(s) sent to TLS, ${SIZE} byte(s) sent to socket`);
  assert.deepEqual(summary.bytes, { to_tls: SIZE, to_socket: SIZE });
  assert.equal(summary.level, 'notice');
  assert.equal(summary.service, 'echo');
  assert.equal(summary.how, 'closed');
  assert.equal(summary.peer, `127.0.0.1:${localPort}`);
  assert.equal(summary.tls_version, 'TLSv1.3');
  assert.equal(summary.cipher, cipher);
  assert.equal(summary.sni, 'localhost');
  assert.equal(summary.resumed, false);
  assert.equal(summary.alpn, null);
  assert.equal(summary.peer_subject, 'CN=client');
  assert.equal(typeof summary.duration_ms, 'number');
  assert.ok(!Number.isNaN(Date.parse(summary.time)));

  const lines = daemon.lines.filter((l) => l.trim() !== '');
  const parsed = lines.map((l) => JSON.parse(l) as { level: string; id: string });
  // The service's debug = 5: none of its lines above notice, as in text mode (the global debug = 6 shows `bound to`).
  assert.ok(parsed.some((o) => o.id === 'ui' && o.level === 'info'));
  assert.deepEqual(parsed.filter((o) => o.id !== 'ui' && (o.level === 'info' || o.level === 'debug')), []);
  const accepted = parsed.find((o) => (o as { message?: string }).message?.startsWith('Service [echo] accepted connection from '));
  assert.ok(accepted, lines.join('\n'));
  assert.equal((accepted as unknown as { event: string }).event, 'log');
  // jq reads the same lines, one object each.
  const jq = execFileSync('jq', ['-c', '.level'], { input: lines.join('\n') + '\n' }).toString().trim().split('\n');
  assert.equal(jq.length, lines.length);
});
