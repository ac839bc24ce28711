/**
 * Inetd mode through the real binary: a configuration without sections, the connection
 * handed over as stdin/stdout (one TCP socket, as inetd does), bytes both ways, stunnel's
 * lines, exit code 0 when the connection ends.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { pki } from '../helpers/pki';
import { BIN, Running, tempDir, writeConf } from '../helpers/daemon';
import { echoServer, exchange } from '../helpers/config';

const p = pki();
const dir = tempDir('stunnel-ts-inetd-');
let echo: Awaited<ReturnType<typeof echoServer>>;
let front: Server;

before(async () => {
  echo = await echoServer();
  // Plays inetd: accepts, does not read, hands the socket to the program as fd 0 and 1.
  front = createServer({ pauseOnConnect: true });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
});

after(() => {
  echo.server.close();
  front.close();
});

test('inetd mode: the TLS client on stdin/stdout reaches the backend, exit 0 afterwards', { timeout: 20000 /* backstop */ }, async () => {
  const conf = writeConf(dir, 'inetd.conf', `
    foreground = yes
    syslog = no
    debug = 6
    connect = 127.0.0.1:${echo.port}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
  const accepted = once(front, 'connection') as Promise<[Socket]>;
  const client = tlsConnect({ port: (front.address() as { port: number }).port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost', allowHalfOpen: true } as never);
  const [socket] = await accepted;
  const daemon = new Running(spawn(process.execPath, [BIN, conf], { stdio: [socket, socket, 'pipe'] }));
  await once(client, 'secureConnect');
  const clientPort = client.localPort;
  const result = await exchange(client, 256 << 10);
  assert.equal(result.received, result.sent, `${result.receivedBytes} bytes back\n${daemon.lines.join('\n')}`);
  const exit = await daemon.exited;
  socket.destroy();
  assert.deepEqual(exit, { code: 0, signal: null });
  const lines = daemon.lines.join('\n');
  assert.match(lines, new RegExp(`LOG5\\[0\\]: Service \\[stunnel\\] accepted connection from 127\\.0\\.0\\.1:${clientPort}$`, 'm'));
  assert.match(lines, new RegExp(`LOG5\\[0\\]: Connection closed: ${256 << 10} byte\\(s\\) sent to TLS, ${256 << 10} byte\\(s\\) sent to socket`));
});
