/**
 * `protocol = socks` in server mode: a SOCKS 4, 4a or 5 request inside TLS names the
 * destination, as with stunnel 5.68, which refuses loopback destinations. So the scenario runs
 * in a network namespace of its own (`unshare -n`) whose loopback interface also carries
 * 10.77.0.1, an address that is not loopback: the backends listen there. Clients: curl with
 * each SOCKS flavour through Debian's stunnel 5.68 in client mode (plain SOCKS in, TLS out),
 * and a Node SOCKS client over TLS for the refusals and for bytes checked by SHA-256.
 *
 * The file runs itself: outside a namespace its one test starts `unshare -n` on this file and
 * asserts that every test passed in there.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pki } from '../helpers/pki';
import type { Running } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { ProtocolPeers } from '../helpers/protocols';
import { nextLine } from '../process/harness';
import { inOwnNamespace } from '../helpers/netns';

/** Not loopback, so a SOCKS server may connect to it; only inside this file's own namespace. */
const HOST = '10.77.0.1';

if (inOwnNamespace(__filename, 'the SOCKS scenario, run in a network namespace of its own', { peers: ['stunnel4', 'curl'] })) inside();

function inside(): void {
  const p = pki();
  const peers = new ProtocolPeers('stunnel-ts-socks-');
  const servers: Server[] = [];
  let socksPort: number;
  let plainSocksPort: number;
  let httpPort: number;
  let echoPort: number;
  /** Services of the host bound to loopback only, and how many connections reached them. */
  let local4Port: number;
  let local6Port: number;
  let localReached = 0;
  let daemon: Running;
  const daemonLines = () => daemon.lines;

  before(async () => {
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
    execFileSync('ip', ['addr', 'add', `${HOST}/32`, 'dev', 'lo']);
    const http = createHttpServer((req, res) => res.end(`hello from backend ${req.url}\n`));
    const echo = createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => undefined); s.pipe(s); });
    for (const server of [http, echo] as Server[]) {
      server.listen(0, HOST);
      await once(server, 'listening');
      servers.push(server);
    }
    httpPort = (http.address() as { port: number }).port;
    echoPort = (echo.address() as { port: number }).port;
    const local = (host: string) => new Promise<number>((resolve) => {
      const server = createServer((s) => { localReached++; s.destroy(); });
      servers.push(server);
      server.listen(0, host, () => resolve((server.address() as { port: number }).port));
    });
    local4Port = await local('127.0.0.1');
    local6Port = await local('::1');
    const ours = await peers.stunnelTs('socks', `[socks]\nprotocol = socks\naccept = 127.0.0.1:0\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`);
    socksPort = ours.port;
    daemon = ours.daemon;
    const theirs = peers.stunnel4('socks-client.conf', `[socks-in]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${socksPort}`);
    await theirs.waitFor(/Configuration successful/);
    plainSocksPort = await theirs.port();
  });
  after(async () => {
    for (const s of servers) s.close();
    await peers.stopAll();
  });

  /** curl through the plain SOCKS port (stunnel 5.68 carries it over TLS to stunnel-ts). */
  const curl = (flag: string, url: string) => new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', `--${flag}`, `127.0.0.1:${plainSocksPort}`, url], (error, out, err) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, out, err }));
  });

  describe('curl through stunnel 5.68 (client) to stunnel-ts (socks server)', () => {
    const kinds: Array<[string, string, RegExp]> = [
      ['socks5', `http://${HOST}:PORT/five`, /LOG6\[\d+\]: SOCKS5 IPv4 address received$/],
      ['socks5-hostname', `http://${HOST}:PORT/five-hostname`, /LOG6\[\d+\]: SOCKS5 (resolved "10\.77\.0\.1" to 1 host\(s\)|IPv4 address received)$/],
      ['socks4', `http://${HOST}:PORT/four`, /LOG6\[\d+\]: SOCKS4 address received$/],
      ['socks4a', `http://${HOST}:PORT/four-a`, /LOG6\[\d+\]: SOCKS4a resolved "10\.77\.0\.1" to 1 host\(s\)$/],
    ];
    for (const [flag, url, line] of kinds) {
      test(`--${flag}: the page comes back from the destination the request named`, async () => {
        const logged = nextLine(daemon, line);
        const r = await curl(flag, url.replace('PORT', String(httpPort)));
        assert.equal(r.code, 0, r.err);
        assert.equal(r.out, `hello from backend ${new URL(url.replace('PORT', '1')).pathname}\n`);
        await logged;
      });
    }

    test('a loopback destination is refused: curl fails, `SOCKS connection to the IPv4 loopback rejected`', async () => {
      const rejected = nextLine(daemon, /LOG3\[\d+\]: SOCKS connection to the IPv[46] loopback rejected$/);
      const r = await curl('socks5-hostname', `http://localhost:${httpPort}/`);
      assert.equal(r.code, 97, r.err);
      await rejected;
    });
  });

  /** A SOCKS client over TLS straight to stunnel-ts: sends `steps` one after the other, each after the previous answer. */
  async function rawSocks(steps: Buffer[]): Promise<{ replies: Buffer[]; socket: TLSSocket }> {
    const socket = tlsConnect({ port: socksPort, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    const replies: Buffer[] = [];
    for (const step of steps) {
      const answered = new Promise<Buffer | null>((resolve) => {
        socket.once('data', (d: Buffer) => resolve(d));
        socket.once('close', () => resolve(null));
      });
      socket.write(step);
      const reply = await answered;
      if (reply === null) break;
      replies.push(reply);
    }
    return { replies, socket };
  }

  const port = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const ipv4 = (ip: string) => Buffer.from(ip.split('.').map(Number));

  describe('the protocol, byte by byte', () => {
    test('SOCKS5 CONNECT: no-auth accepted, the reply names the destination, then 1 MiB echoed intact', async () => {
      const request = Buffer.concat([Buffer.from([5, 1, 0, 1]), ipv4(HOST), port(echoPort)]);
      const { replies, socket } = await rawSocks([Buffer.from([5, 1, 0]), request]);
      assert.deepEqual(replies.map((r) => r.toString('hex')), ['0500', `05000001${ipv4(HOST).toString('hex')}${port(echoPort).toString('hex')}`]);
      const r = await exchange(socket, 1024 * 1024);
      assert.equal(r.receivedBytes, 1024 * 1024);
      assert.equal(r.received, r.sent);
    });

    const refusals: Array<[string, Buffer[], string[], RegExp, string]> = [
      ['no acceptable authentication method', [Buffer.from([5, 1, 2])], ['05ff'], /No supported SOCKS5 authentication method received$/, 'closed'],
      ['BIND instead of CONNECT', [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 2, 0, 1]), ipv4(HOST), port(80)])],
        ['0500', '05070001000000000000'], /Unsupported SOCKS5 command 0x02$/, 'closed'],
      ['the IPv6 loopback', [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 4]), Buffer.alloc(15), Buffer.from([1]), port(80)])],
        ['0500', `05020004${'00'.repeat(15)}010050`], /SOCKS connection to the IPv6 loopback rejected$/, 'closed'],
      ['SOCKS4 to the IPv4 loopback', [Buffer.concat([Buffer.from([4, 1]), port(80), ipv4('127.0.0.1'), Buffer.from([0])])],
        ['005b00507f000001'], /SOCKS connection to the IPv4 loopback rejected$/, 'closed'],
      ['SOCKS5 an empty name', [Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 3, 0, 0, 80])],
        ['0500', '05040001000000000000'], /SOCKS5 failed to resolve ""$/, 'closed'],
      ['an HTTP request instead of SOCKS', [Buffer.from('GET / HTTP/1.1\r\n\r\n')], [], /Unsupported SOCKS version 0x47$/, 'reset'],
    ];
    for (const [name, steps, replies, line, status] of refusals) {
      test(`${name}: the reply stunnel gives, one LOG3 line, Connection ${status}`, async () => {
        const before = daemonLines().length;
        const ended = nextLine(daemon, new RegExp(`LOG5\\[\\d+\\]: Connection ${status}: 0 byte`));
        const r = await rawSocks(steps);
        await ended;
        r.socket.destroy();
        assert.deepEqual(r.replies.map((b) => b.toString('hex')), replies);
        const logged = daemonLines().slice(before);
        assert.equal(logged.filter((l) => /LOG3\[/.test(l) && line.test(l)).length, 1, logged.join('\n'));
      });
    }

    test('a destination that refuses: stunnel\'s s_connect lines, Connection reset', async () => {
      const closed = await new Promise<number>((resolve) => {
        const s = createServer();
        s.listen(0, HOST, () => { const { port: free } = s.address() as { port: number }; s.close(() => resolve(free)); });
      });
      const request = Buffer.concat([Buffer.from([5, 1, 0, 1]), ipv4(HOST), port(closed)]);
      const refused = nextLine(daemon, new RegExp(`LOG3\\[\\d+\\]: s_connect: connect ${HOST.replace(/\./g, '\\.')}:${closed}: Connection refused \\(111\\)$`));
      const reset = nextLine(daemon, /LOG5\[\d+\]: Connection reset: 0 byte\(s\) sent to TLS, 0 byte\(s\) sent to socket$/);
      const r = await rawSocks([Buffer.from([5, 1, 0]), request]);
      assert.equal(r.replies[1]?.[1], 0, 'the success reply comes before the connection is tried, as stunnel sends it');
      await refused;
      await reset;
      r.socket.destroy();
    });
  });

  describe('the host itself in every spelling: refused after resolution, nothing reaches a loopback-only service', () => {
    const name = (host: string) => Buffer.concat([Buffer.from([host.length]), Buffer.from(host)]);
    const v6 = (hex: string) => Buffer.from(hex, 'hex');
    const mapped = (v4hex: string) => `00000000000000000000ffff${v4hex}`;
    // [what, request steps, expected replies (hex), the LOG3 line]
    const attacks: Array<[string, () => Buffer[], () => string[], RegExp]> = [
      ['SOCKS5 IPv4 0.0.0.0', () => [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 1]), ipv4('0.0.0.0'), port(local4Port)])],
        () => ['0500', `0502000100000000${port(local4Port).toString('hex')}`], /SOCKS connection to the IPv4 unspecified address rejected$/],
      ['SOCKS5 IPv6 ::ffff:0.0.0.0', () => [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 4]), v6(mapped('00000000')), port(local4Port)])],
        () => ['0500', `05020004${mapped('00000000')}${port(local4Port).toString('hex')}`], /SOCKS connection to the IPv4 unspecified address rejected$/],
      ['SOCKS5 IPv6 ::ffff:127.0.0.1 (stunnel 5.68 lets it through)', () => [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 4]), v6(mapped('7f000001')), port(local4Port)])],
        () => ['0500', `05020004${mapped('7f000001')}${port(local4Port).toString('hex')}`], /SOCKS connection to the IPv4 loopback rejected$/],
      ['SOCKS5 the name "0"', () => [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 3]), name('0'), port(local4Port)])],
        () => ['0500', `0502000100000000${port(local4Port).toString('hex')}`], /SOCKS connection to the IPv4 unspecified address rejected$/],
      ['SOCKS5 the name "2130706433" (127.0.0.1 as one number)', () => [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 3]), name('2130706433'), port(local4Port)])],
        () => ['0500', `050200017f000001${port(local4Port).toString('hex')}`], /SOCKS connection to the IPv4 loopback rejected$/],
      ['SOCKS5 IPv6 :: to a [::1]-only service', () => [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 4]), Buffer.alloc(16), port(local6Port)])],
        () => ['0500', `05020004${'00'.repeat(16)}${port(local6Port).toString('hex')}`], /SOCKS connection to the IPv6 unspecified address rejected$/],
      ['SOCKS4 0.0.0.0', () => [Buffer.concat([Buffer.from([4, 1]), port(local4Port), ipv4('0.0.0.0'), Buffer.from([0])])],
        () => [`005b${port(local4Port).toString('hex')}00000000`], /SOCKS connection to the IPv4 unspecified address rejected$/],
      ['SOCKS4a the name "0"', () => [Buffer.concat([Buffer.from([4, 1]), port(local4Port), ipv4('0.0.0.1'), Buffer.from([0]), Buffer.from('0'), Buffer.from([0])])],
        () => [`005b${port(local4Port).toString('hex')}00000000`], /SOCKS connection to the IPv4 unspecified address rejected$/],
    ];
    for (const [what, steps, replies, line] of attacks) {
      test(`${what}: refusal reply, one LOG3 line, Connection closed, the service not reached`, async () => {
        const before = daemonLines().length;
        const ended = nextLine(daemon, /LOG5\[\d+\]: Connection closed: 0 byte/);
        const r = await rawSocks(steps());
        await ended;
        r.socket.destroy();
        assert.deepEqual(r.replies.map((b) => b.toString('hex')), replies());
        const logged = daemonLines().slice(before);
        assert.equal(logged.filter((l) => /LOG3\[/.test(l) && line.test(l)).length, 1, logged.join('\n'));
        assert.equal(logged.filter((l) => /s_connect|connected remote server/.test(l)).length, 0, logged.join('\n'));
        assert.equal(localReached, 0);
      });
    }
  });
}
