/**
 * Resumption as stunnel 5.68 does it (issue #12 items 1 and 6):
 *   - a TLS 1.2 client that offers a session id and no ticket is resumed from the session
 *     cache (`openssl s_client -tls1_2 -no_ticket -sess_out/-sess_in`), and tlsfuzzer's
 *     session-id and extended-master-secret resumption probes pass; the session-id probe with
 *     `workers = 2` too (its two connections may land on different workers)
 *   - a TLS 1.3 handshake keyed by `PSKsecrets` is logged `TLS accepted: new session negotiated`
 * and issue #12 item 2: tickets are sent as stunnel 5.68 sends them, so a client that uses each
 * TLS 1.3 ticket once (tlsfuzzer's test-tls13-session-resumption) resumes every time.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pki } from '../helpers/pki';
import { lineCount, runClosedStdin as run, startDaemon } from '../helpers/net';
import { tempDir, type Running } from '../helpers/daemon';
import { assertPeers, havePeers, skipWithout } from '../helpers/peers';

const p = pki();
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const clean of cleanups.reverse()) await clean();
});

/** A backend that greets each connection and closes it (`s_client -ign_eof` then reads to the end). */
async function greeter(): Promise<number> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.end('hello\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** A backend that answers one HTTP/1.0 request (tlsfuzzer sends `GET / HTTP/1.0`) and closes. */
async function http(): Promise<number> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

async function daemonOf(section: string, options: { target?: number; globals?: string } = {}): Promise<{ daemon: Running; port: number; dir: string }> {
  const target = options.target ?? await http();
  const { daemon, dir } = await startDaemon(`debug = 6\n${options.globals ?? ''}[resume]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${target}\n${section}`);
  cleanups.push(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { daemon, dir, port: await daemon.port(0) };
}

const CERT = (): string => `cert = ${p.serverCert}\nkey = ${p.serverKey}\n`;

describe('TLS 1.2 resumption by session id', { skip: skipWithout('openssl') }, () => {
  test('s_client -no_ticket -sess_out, then -sess_in: Reused, and stunnel\'s line', async () => {
    assertPeers('openssl');
    const { daemon, dir, port } = await daemonOf(CERT());
    const file = join(dir, 'session.pem');
    const base = ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-no_ticket'];
    const first = await run('openssl', [...base, '-sess_out', file]);
    assert.match(first.out, /^New, TLSv1\.2/m, first.out);
    const second = await run('openssl', [...base, '-sess_in', file]);
    assert.match(second.out, /^Reused, TLSv1\.2/m, second.out);
    assert.equal(await lineCount(daemon, /LOG6\[\d+\]: TLS accepted: previous session reused$/, 1), 1);
  });
});

/**
 * NewSessionTicket messages per handshake, measured against Debian's stunnel 5.68 (OpenSSL 3.0)
 * with `openssl s_client -msg -ign_eof -sess_out` then `-sess_in`:
 *   TLS 1.3: 2 on the full handshake, 1 on the resumed one (OpenSSL renews each ticket it accepts)
 *   TLS 1.2: 1 on the full handshake, 0 on the resumed one (the ticket is kept)
 * stunnel logs `TLS accepted: new session negotiated`, then `TLS accepted: previous session reused`.
 */
const TICKETS: Array<[string, number, number]> = [['-tls1_3', 2, 1], ['-tls1_2', 1, 0]];

describe('session tickets per handshake, as stunnel 5.68', { skip: skipWithout('openssl') }, () => {
  for (const [version, full, resumed] of TICKETS) {
    test(`${version}: ${full} ticket(s) on a full handshake, ${resumed} on a resumed one`, async () => {
      assertPeers('openssl');
      const { daemon, dir, port } = await daemonOf(CERT(), { target: await greeter() });
      const file = join(dir, 'session.pem');
      const base = ['s_client', '-connect', `127.0.0.1:${port}`, version, '-ign_eof', '-msg'];
      const tickets = (out: string) => out.match(/^<<< .*, NewSessionTicket$/gm)?.length ?? 0;
      const first = await run('openssl', [...base, '-sess_out', file]);
      assert.match(first.out, /^New, TLSv1\.[23]/m, first.out);
      assert.equal(tickets(first.out), full, first.out);
      const second = await run('openssl', [...base, '-sess_in', file]);
      assert.match(second.out, /^Reused, TLSv1\.[23]/m, second.out);
      assert.equal(tickets(second.out), resumed, second.out);
      assert.equal(await lineCount(daemon, /LOG6\[\d+\]: TLS accepted: new session negotiated$/, 1), 1);
      assert.equal(await lineCount(daemon, /LOG6\[\d+\]: TLS accepted: previous session reused$/, 1), 1);
    });
  }
});

/** tlsfuzzer from shared/ beside the checkout (as CI lays it out), else the workplace's copy. */
const TLSFUZZER = [resolve(__dirname, '../../../../shared/tools/tlsfuzzer'), '/work/shared/tools/tlsfuzzer'].find((dir) => existsSync(dir)) ?? '/work/shared/tools/tlsfuzzer';

/**
 * One tlsfuzzer script, by module (the snapshot's scripts/ are entry-point symlinks): exit
 * status and output. Needs Debian's python3-ecdsa.
 */
function tlsfuzzer(script: string, port: number, args: string[]): Promise<{ code: number | null; out: string; hung: boolean }> {
  const root = join(TLSFUZZER, 'tlsfuzzer');
  // Debian's python3 (the one python3-ecdsa is installed for), even when another comes first on PATH.
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  return run(python, ['-m', `tlsfuzzer._apps.${script.replace(/-/g, '_')}`, '-h', '127.0.0.1', '-p', String(port), ...args], {
    cwd: root, env: { PYTHONPATH: `.:${join(TLSFUZZER, 'tlslite-ng')}`, PYTHONDONTWRITEBYTECODE: '1' },
  });
}

describe('tlsfuzzer resumption probes', { skip: skipWithout('python3') }, () => {
  const probes: Array<[string, string[], string]> = [
    ['test-sessionID-resumption', ['session ID resume'], ''],
    ['test-sessionID-resumption', ['session ID resume'], 'workers = 2\n'],
    ['test-extended-master-secret-extension', [
      'EMS with session resume', 'EMS with session resume and SHA384 PRF', 'EMS with session resume without extension',
    ], ''],
    // Each resumed TLS 1.3 handshake must bring a fresh ticket (the script uses each one once).
    ['test-tls13-session-resumption', ['session resumption', 'session resumption - PSK_WITH_DHE'], ''],
  ];
  for (const [script, names, globals] of probes) {
    test(`${script}${globals ? ` (${globals.trim()})` : ''}: ${names.join(', ')}`, async (t) => {
      if (!havePeers(t, 'python3')) return;
      if (!existsSync(TLSFUZZER)) return t.skip(`needs tlsfuzzer in ${TLSFUZZER}`);
      const { port } = await daemonOf(CERT(), { globals });
      const result = await tlsfuzzer(script, port, ['-d', ...names]);
      assert.equal(result.hung, false, result.out);
      assert.match(result.out, /\nFAIL: 0\n/, result.out);
      assert.equal(result.code, 0, result.out);
    });
  }
});

describe('PSKsecrets (upstream 061)', { skip: skipWithout('openssl') }, () => {
  test('a TLS 1.3 handshake on the pre-shared key is a new session', async () => {
    assertPeers('openssl');
    const dir = tempDir('stunnel-ts-psk-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const secrets = join(dir, 'psk.txt');
    writeFileSync(secrets, 'test1:0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
    const { daemon, port } = await daemonOf(`PSKsecrets = ${secrets}\n`);
    // No -ign_eof: s_client ends at its stdin's EOF, after the handshake (the backend waits for a request).
    const out = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3',
      '-psk_identity', 'test1', '-psk', '0123456789abcdef0123456789abcdef']);
    assert.match(out.out, /HTTP\/1\.0 200 OK|^New, TLSv1\.3|^Reused, TLSv1\.3/m, out.out);
    assert.equal(await lineCount(daemon, /LOG5\[\d+\]: Key configured for PSK identity "test1"$/, 1), 1);
    assert.equal(await lineCount(daemon, /LOG6\[\d+\]: TLS accepted: new session negotiated$/, 1), 1);
    assert.equal(await lineCount(daemon, /previous session reused/, 1, 200), 0);
  });
});
