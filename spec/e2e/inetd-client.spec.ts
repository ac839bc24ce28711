/**
 * @module spec/e2e/inetd-client
 * Inetd mode in client mode (stunnel's upstream test 221): no `accept`, the plain connection on
 * stdin/stdout as two distinct descriptors (Node's 'pipe' stdio: two socketpairs; upstream's Python
 * subprocess: pipes, or a socketpair for stdin in older Pythons), `connect` to a real TLS server.
 * As upstream, the client waits for stunnel's LOG7 `Service [inetd] started` before it writes
 * `Hello 0\n`; the TLS server must read exactly that line and its `There!\n` must come back on
 * stdout, then EOF and exit 0. Run against stunnel-ts and, side by side, stunnel 5.68.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { BIN, Running, tempDir, writeConf } from '../helpers/daemon';
import { assertPeers, skipWithout } from '../helpers/peers';
import { pki } from '../helpers/pki';

const p = pki();
const dir = tempDir('stunnel-ts-inetd-client-');
let server: Server;
/** What the TLS server read from each connection before answering (a line, or '' at EOF). */
let received: Promise<string>;
let receivedResolve: (line: string) => void;

function expectConnection(): void {
  received = new Promise((resolve) => { receivedResolve = resolve; });
}

before(async () => {
  // A TLS server as upstream's: read one line, answer `There!\n`, close.
  server = createServer({ cert: p.server.certPem, key: p.server.keyPem }, (socket: TLSSocket) => {
    let data = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (!data.includes('\n')) return;
      receivedResolve(data);
      socket.end('There!\n');
    });
    socket.on('end', () => receivedResolve(data));
  });
  server.listen(0, '127.0.5.1');
  await once(server, 'listening');
});

after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `promise`, or a failure naming what did not happen after 10 s (a backstop, not a sleep). */
function backstop<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(what)), 10_000); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Runs `program` on upstream 221's configuration with stdin/stdout as pipes; returns its log lines and what came back. */
async function inetdClient(program: string[]): Promise<{ lines: string[]; reply: string; code: number | null }> {
  const port = (server.address() as { port: number }).port;
  const conf = writeConf(dir, 'client.conf', `
    foreground = yes
    debug = debug
    syslog = no
    service = inetd
    client = yes
    connect = 127.0.5.1:${port}
  `);
  expectConnection();
  const child = spawn(program[0], [...program.slice(1), conf], { stdio: ['pipe', 'pipe', 'pipe'] });
  const daemon = new Running(child);
  // The daemon's stdout is the connection, not its log: read it apart from the lines.
  child.stdout.removeAllListeners('data');
  let reply = '';
  child.stdout.on('data', (chunk: Buffer) => { reply += chunk.toString('latin1'); });
  try {
    await daemon.waitFor(/Service \[inetd\] started$/);
    child.stdin.write('Hello 0\n');
    const line = await backstop(received, `nothing reached the TLS server\n${daemon.lines.join('\n')}`);
    assert.equal(line, 'Hello 0\n', `the TLS server read ${JSON.stringify(line)}\n${daemon.lines.join('\n')}`);
    if (!reply.includes('\n')) await backstop(once(child.stdout, 'data'), `no answer on stdout\n${daemon.lines.join('\n')}`);
    assert.equal(reply, 'There!\n');
    child.stdin.end();
    const { code } = await backstop(daemon.exited, `no exit after stdin's EOF\n${daemon.lines.join('\n')}`);
    return { lines: daemon.lines, reply, code };
  } finally {
    await daemon.stop();
  }
}

describe('inetd mode, client: stdin/stdout to a TLS server (upstream 221)', () => {
  test('stunnel-ts: the line reaches the TLS server, the answer comes back, exit 0', async () => {
    const r = await inetdClient([process.execPath, BIN]);
    assert.equal(r.code, 0);
    const started = r.lines.findIndex((l) => l.endsWith('LOG7[0]: Service [inetd] started'));
    const accepted = r.lines.findIndex((l) => l.endsWith('LOG5[0]: Service [inetd] accepted connection'));
    assert.ok(started >= 0 && accepted > started, r.lines.join('\n'));
    assert.ok(r.lines.some((l) => l.endsWith('LOG5[0]: Connection closed: 8 byte(s) sent to TLS, 7 byte(s) sent to socket')), r.lines.join('\n'));
  });

  test('stunnel 5.68 does the same', { skip: skipWithout('stunnel4') }, async () => {
    assertPeers('stunnel4');
    const r = await inetdClient(['stunnel4']);
    assert.equal(r.code, 0);
    assert.ok(r.lines.some((l) => l.endsWith('LOG7[0]: Service [inetd] started')), r.lines.join('\n'));
    assert.ok(r.lines.some((l) => l.endsWith('LOG5[0]: Connection closed: 8 byte(s) sent to TLS, 7 byte(s) sent to socket')), r.lines.join('\n'));
  });
});
