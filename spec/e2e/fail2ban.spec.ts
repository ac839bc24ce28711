/**
 * fail2ban: the shipped filter (fail2ban/filter.d/stunnel-ts.conf) finds the client address
 * in the lines a real daemon logs for a failed handshake and for a refused client
 * certificate, checked with fail2ban-regex on the daemon's output file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pki } from '../helpers/pki';
import { runStunnelTs } from '../helpers/daemon';
import { waitForLine } from '../process/harness';
import { linesMatching } from '../helpers/net';
import { EchoBench } from '../process/echo-bench';
import { peerPath, skipWithout } from '../helpers/peers';

const FILTER = resolve(__dirname, '../../../fail2ban/filter.d/stunnel-ts.conf');
const p = pki();
const bench = new EchoBench('stunnel-ts-f2b-');
const log = join(bench.dir, 'stunnel.log');

bench.before(() => {
  const conf = bench.writeEchoConf('f2b', `foreground = quiet\nsyslog = no\ndebug = 6\noutput = ${log}`,
    { name: 'mtls', extra: `CAfile = ${p.otherCaFile}\nverifyChain = yes` });
  bench.stopAtEnd(runStunnelTs([conf]));
});

/** Resolves on 'close' whatever error came first (events.once would reject on 'error'). */
function closed(socket: import('node:net').Socket): Promise<void> {
  return new Promise((resolveClose) => socket.on('close', () => resolveClose()));
}

test('fail2ban-regex finds the client of a failed handshake and of a refused certificate',
  { skip: skipWithout('fail2ban-regex') }, async () => {
    const port = Number((await waitForLine(log, / bound to /)).match(/:(\d+)$/)![1]);

    const plain = connect(port, '127.0.0.1');
    plain.on('error', () => undefined);
    plain.end('GET / HTTP/1.0\r\n\r\n');
    await closed(plain);

    const refused = tlsConnect({ port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost',
      cert: p.client.certPem, key: p.client.keyPem });
    refused.on('error', () => undefined);
    await closed(refused);

    await waitForLine(log, /certificate verify failed \(from 127\.0\.0\.1:\d+\)$/);
    assert.equal(linesMatching(log, /SSL_accept: .* \(from 127\.0\.0\.1:\d+\)$/).length, 2);

    const { stdout } = await promisify(execFile)(peerPath('fail2ban-regex'), ['-v', log, FILTER]);
    assert.match(stdout, /^Failregex: 2 total$/m);
    assert.equal(stdout.match(/^\|\s+127\.0\.0\.1\s+/gm)?.length, 2, stdout);
  });
