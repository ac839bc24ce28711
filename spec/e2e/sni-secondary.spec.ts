/**
 * @module spec/e2e/sni-secondary
 * Server-side SNI (stunnel's upstream test 121): once a ClientHello's name picks a secondary
 * service (`sni = primary:pattern`), the rest of the connection is the secondary's, whole — its
 * client-certificate request and verification (inside the handshake), its TIMEOUTbusy, its
 * backend; only the log level stays the primary's, as stunnel 5.68 does. Both directions of the verification switch are checked, the second one being a
 * security property: a primary without verification must not let a client that names a
 * secondary requiring a certificate in without one. A real client (Python's ssl), run against
 * stunnel-ts and, side by side, stunnel 5.68.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { BIN, Running, tempDir, writeConf } from '../helpers/daemon';
import { backend, captureClientHello, lineCount, runToExit, type Backend } from '../helpers/net';
import { assertPeers, skipWithout } from '../helpers/peers';
import { pki } from '../helpers/pki';

const p = pki();
const dir = tempDir('stunnel-ts-sni-');
let echo: Backend;
let primaryBackend: Backend;

/** Python's ssl client: SNI name, optional client certificate; sends `Hello 0\n` and prints what comes back. */
const CLIENT = `
import socket, ssl, sys
port, name, cert, key, version = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
if version == '1.2':
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if cert != '-':
    ctx.load_cert_chain(cert, key)
try:
    s = ctx.wrap_socket(socket.create_connection(('127.0.5.1', int(port))), server_hostname=name)
    s.sendall(b'Hello 0\\n')
    data = b''
    while not data.endswith(b'\\n'):
        chunk = s.recv(100)
        if not chunk:
            break
        data += chunk
    print('GOT', data)
except Exception as err:
    print('ERR', err)
`;

const PROGRAMS: Record<string, { cmd: string[]; skip: string | false }> = {
  'stunnel-ts': { cmd: [process.execPath, BIN], skip: false },
  'stunnel 5.68': { cmd: ['stunnel4'], skip: skipWithout('stunnel4') },
};

before(async () => {
  echo = await backend();
  primaryBackend = await backend();
});

after(async () => {
  await echo.close();
  await primaryBackend.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A primary `[server_virtual]` (its own backend) and a secondary `[sni]` for *.mydomain.com (the echo). */
async function startServer(program: string[], primaryExtra: string, secondaryExtra: string): Promise<{ daemon: Running; port: number }> {
  const conf = writeConf(dir, 'server.conf', `
    foreground = yes
    debug = debug
    syslog = no
    [server_virtual]
    accept = 127.0.5.1:0
    connect = 127.0.0.1:${primaryBackend.port}
    cert = ${p.serverCombined}
    ${primaryExtra}
    [sni]
    connect = 127.0.0.1:${echo.port}
    sni = server_virtual:*.mydomain.com
    cert = ${p.serverCombined}
    ${secondaryExtra}
  `);
  const daemon = new Running(spawn(program[0], [...program.slice(1), conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
  try {
    return { daemon, port: await daemon.port(0) };
  } catch (err) {
    await daemon.stop();
    throw err;
  }
}

async function pythonClient(port: number, name: string, withCert: boolean, version: '1.2' | '1.3' = '1.3'): Promise<string> {
  const args = ['-c', CLIENT, String(port), name, withCert ? p.clientCert : '-', withCert ? p.clientKey : '-', version];
  const r = await runToExit('python3', args);
  assert.equal(r.hung, false);
  return r.out.trim();
}

for (const [label, { cmd, skip }] of Object.entries(PROGRAMS)) {
  describe(`server-side SNI secondaries: ${label}`, { skip: skip || skipWithout('python3') }, () => {
    before(() => assertPeers('python3', ...(label === 'stunnel-ts' ? [] : ['stunnel4' as const])));

    test('upstream 121: the secondary asks for, verifies and accepts a valid client certificate', async () => {
      const { daemon, port } = await startServer(cmd, '', `verifyChain = yes\nCAfile = ${p.caFile}`);
      try {
        const out = await pythonClient(port, 'sni.mydomain.com', true);
        assert.equal(out, "GOT b'Hello 0\\n'", daemon.lines.join('\n'));
        await daemon.waitFor(/LOG5\[\d+\]: Connection closed: /);
        const lines = daemon.lines.join('\n');
        assert.match(lines, /LOG5\[\d+\]: SNI: switched to service \[sni\]$/m);
        assert.match(lines, /LOG5\[\d+\]: Certificate accepted at depth=0: /);
        assert.doesNotMatch(lines, /certificate verify failed|peer did not return a certificate/);
      } finally {
        await daemon.stop();
      }
    });

    test('security: a primary without verification does not let a client naming a cert-requiring secondary in without a certificate', async () => {
      const before = echo.receivedHashes.size + echo.sockets.size;
      const { daemon, port } = await startServer(cmd, '', `verifyChain = yes\nCAfile = ${p.caFile}`);
      try {
        for (const version of ['1.3', '1.2'] as const) {
          const out = await pythonClient(port, 'sni.mydomain.com', false, version);
          assert.match(out, /^ERR /, `TLS ${version}\n${daemon.lines.join('\n')}`);
        }
        const refusals = await lineCount(daemon, /LOG3\[\d+\]: SSL_accept: .*error:0A0000C7:SSL routines::peer did not return a certificate/, 2);
        assert.equal(refusals, 2, daemon.lines.join('\n'));
        assert.match(daemon.lines.join('\n'), /LOG5\[\d+\]: SNI: switched to service \[sni\]$/m);
        assert.equal(echo.receivedHashes.size + echo.sockets.size, before, 'nothing reached the secondary\'s backend');
      } finally {
        await daemon.stop();
      }
    });

    test('a primary that requires a certificate does not impose it on a secondary that does not', async () => {
      const { daemon, port } = await startServer(cmd, `verifyChain = yes\nCAfile = ${p.caFile}`, '');
      try {
        const out = await pythonClient(port, 'sni.mydomain.com', false);
        assert.equal(out, "GOT b'Hello 0\\n'", daemon.lines.join('\n'));
        assert.match(daemon.lines.join('\n'), /LOG5\[\d+\]: SNI: switched to service \[sni\]$/m);
      } finally {
        await daemon.stop();
      }
    });

    test("after the switch, lines are written at the primary's level; the TLS details need both levels (as stunnel 5.68)", async () => {
      for (const [primary, secondary] of [['info', 'notice'], ['notice', 'info']] as const) {
        const { daemon, port } = await startServer(cmd, `debug = ${primary}`, `debug = ${secondary}`);
        try {
          const out = await pythonClient(port, 'sni.mydomain.com', false);
          assert.equal(out, "GOT b'Hello 0\\n'", daemon.lines.join('\n'));
          await daemon.waitFor(/LOG5\[\d+\]: Connection closed: /);
          const lines = daemon.lines.join('\n');
          assert.match(lines, /LOG5\[\d+\]: SNI: switched to service \[sni\]$/m);
          // A LOG6 line written after the switch: only when the primary logs at info.
          assert.equal(/LOG6\[\d+\]: s_connect: connecting /.test(lines), primary === 'info', lines);
          assert.doesNotMatch(lines, /TLS accepted: new session negotiated/);
        } finally {
          await daemon.stop();
        }
      }
    });

    test("the secondary's TIMEOUTbusy bounds the rest of the handshake", async () => {
      const { daemon, port } = await startServer(cmd, 'TIMEOUTbusy = 300', 'TIMEOUTbusy = 1');
      const socket = tcpConnect(port, '127.0.5.1');
      try {
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        // A ClientHello naming the secondary, and then silence.
        socket.write(await captureClientHello({ servername: 'sni.mydomain.com' }));
        const line = await daemon.waitFor(/TIMEOUTbusy exceeded: sending reset$/, 20_000);
        assert.match(line.input!, /LOG6\[\d+\]: ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset$/);
        assert.match(daemon.lines.join('\n'), /LOG5\[\d+\]: SNI: switched to service \[sni\]$/m);
      } finally {
        socket.destroy();
        await daemon.stop();
      }
    });
  });
}
