/**
 * @module spec/e2e/hostile-tls
 * Hostile bytes on the TLS port of the real binary (server mode): random bytes, a
 * truncated ClientHello, plain HTTP, an SSLv2-style hello, oversized and malformed
 * records, an alert flood, renegotiation. Each costs one connection and one `SSL_accept`
 * line at LOG3 (as stunnel logs it); the daemon and a healthy tunnel are unaffected.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Running } from '../helpers/daemon';
import { Prng } from '../helpers/fuzz';
import {
  captureClientHello, echoTunnel, ending, healthyRoundTrip, tcpClient, tlsClient, type EchoTunnel,
} from '../helpers/net';

let tunnel: EchoTunnel;
let daemon: Running;
let port: number;
let clientHello: Buffer;

before(async () => {
  tunnel = await echoTunnel('debug = 6\nTIMEOUTbusy = 2\nTIMEOUTclose = 1');
  ({ daemon, port } = tunnel);
  clientHello = await captureClientHello();
});

after(() => tunnel?.stop());

/** A TLS record: type, version 3.3, length, body. */
function record(type: number, body: Buffer, length = body.length): Buffer {
  return Buffer.concat([Buffer.from([type, 3, 3, length >> 8, length & 0xff]), body]);
}

/** An SSLv2-format CLIENT-HELLO (2-byte header with the high bit set), as very old clients sent. */
function sslv2Hello(): Buffer {
  const ciphers = Buffer.from([0x07, 0x00, 0xc0, 0x05, 0x00, 0x80, 0x03, 0x00, 0x80, 0x01, 0x00, 0x80, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x00, 0x00, 0x0a]);
  const body = Buffer.concat([Buffer.from([0x01, 0x00, 0x02, 0x00, ciphers.length, 0x00, 0x00, 0x00, 0x10]), ciphers, Buffer.alloc(16, 0xab)]);
  return Buffer.concat([Buffer.from([0x80 | (body.length >> 8), body.length & 0xff]), body]);
}

/**
 * Sends `bytes` on a fresh TCP connection (then half-closes, unless `keepOpen`), and
 * returns the lines the daemon logged for that connection once it ended.
 */
async function hostile(bytes: Buffer, keepOpen = false): Promise<{ lines: string[]; ms: number }> {
  const socket = await tcpClient(port);
  const id = (await daemon.waitFor(new RegExp(`LOG5\\[(\\d+)\\]: Service \\[tls\\] accepted connection from 127\\.0\\.0\\.1:${socket.localPort}$`)))[1];
  const end = ending(socket, 8000);
  socket.write(bytes);
  if (!keepOpen) socket.end();
  await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection \\S+: \\d+ byte\\(s\\) sent to TLS`));
  const { ms } = await end;
  socket.destroy();
  return { lines: daemon.lines.filter((l) => l.includes(`[${id}]: `)).map((l) => l.replace(/^.*? LOG/, 'LOG')), ms };
}

/** The LOG3 `SSL_accept:` lines among a connection's lines. */
const acceptErrors = (lines: string[]) => lines.filter((l) => /^LOG3\[\d+\]: SSL_accept: /.test(l));

describe('hostile bytes on the TLS port: one LOG3 line, the connection closed, nothing else harmed', () => {
  const cases: Array<[string, () => Buffer, RegExp, boolean?]> = [
    ['plain HTTP', () => Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), /http request/],
    ['4 KiB of random bytes', () => new Prng(20240601).bytes(4096), /./],
    ['a truncated ClientHello, then EOF', () => clientHello.subarray(0, Math.floor(clientHello.length / 2)), /unexpected eof|EOF|eof/i],
    ['an SSLv2-style hello', sslv2Hello, /./],
    ['an oversized record (length 65535)', () => record(0x16, Buffer.alloc(65535, 1)), /length|too long|too large/i],
    ['a record of an unknown content type', () => record(0x63, Buffer.alloc(32, 2)), /./],
    ['application data before any handshake', () => record(0x17, Buffer.alloc(64, 3)), /./],
    ['a flood of 1000 warning alerts', () => Buffer.concat(Array.from({ length: 1000 }, () => record(0x15, Buffer.from([1, 0x70])))), /./, true],
  ];
  for (const [name, bytes, reason, keepOpen] of cases) {
    test(name, async () => {
      const { lines, ms } = await hostile(bytes(), keepOpen);
      const errors = acceptErrors(lines);
      assert.equal(errors.length, 1, `exactly one SSL_accept line at LOG3:\n${lines.join('\n')}`);
      assert.match(errors[0], reason);
      assert.ok(lines.some((l) => /^LOG5\[\d+\]: Connection reset(\/closed)?: 0 byte\(s\) sent to TLS, 0 byte\(s\) sent to socket$/.test(l)), lines.join('\n'));
      assert.ok(ms < 4000, `closed after ${ms} ms`);
      assert.equal(await healthyRoundTrip(port, 256 * 1024), true, 'a healthy tunnel still carries bytes');
    });
  }
});

describe('hostile bytes after the handshake', () => {
  test('a forged record inside an established tunnel: one SSL_read line at LOG3, not a quiet close', async () => {
    const raw = await tcpClient(port);
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false });
    s.on('error', () => undefined);
    await once(s, 'secureConnect');
    const id = (await daemon.waitFor(new RegExp(`LOG5\\[(\\d+)\\]: Service \\[tls\\] accepted connection from 127\\.0\\.0\\.1:${raw.localPort}$`)))[1];
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Service \\[tls\\] connected remote server`));
    raw.write(record(0x17, Buffer.alloc(64, 7)));
    const line = await daemon.waitFor(new RegExp(`LOG3\\[${id}\\]: SSL_read: \\S+:\\d+: error:[0-9A-F]{8}:SSL routines::(.*)$`));
    assert.match(line[1], /bad record mac|decrypt/);
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection \\S+: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
    s.destroy();
    assert.equal(await healthyRoundTrip(port, 256 * 1024), true);
  });
});

describe('renegotiation (TLS 1.2 client)', () => {
  // Observed with stunnel 5.68 on OpenSSL 3: a client-initiated renegotiation is answered with a
  // no_renegotiation alert; the client aborts with a handshake_failure alert, stunnel logs
  // `SSL_read: ...:sslv3 alert handshake failure` at LOG3 and ends with `Connection reset/closed`.
  // Each granted renegotiation would cost the server a full handshake: a cheap CPU attack.
  /** Asks for a renegotiation; resolves with the client's error (null if it was granted). */
  const renegotiate = (s: TLSSocket) => new Promise<NodeJS.ErrnoException | null>((resolve) => {
    s.once('error', resolve);
    if (!s.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err ?? null))) resolve(new Error('renegotiate() refused locally'));
  });
  const refused = new RegExp(`LOG3\\[(\\d+)\\]: SSL_read: \\S+:\\d+: error:0A000410:SSL routines::sslv3 alert handshake failure$`);

  test('a client-initiated renegotiation is refused with no_renegotiation: one LOG3 line, then reset/closed', async () => {
    const s = await tlsClient(port, { maxVersion: 'TLSv1.2' });
    assert.equal(s.getProtocol(), 'TLSv1.2');
    const id = (await daemon.waitFor(new RegExp(`LOG5\\[(\\d+)\\]: Service \\[tls\\] accepted connection from 127\\.0\\.0\\.1:${s.localPort}$`)))[1];
    const err = await renegotiate(s);
    s.destroy();
    assert.equal(err?.code, 'ERR_SSL_NO_RENEGOTIATION');
    assert.equal((await daemon.waitFor(refused))[1], id);
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection reset/closed: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
    assert.equal(await healthyRoundTrip(port, 256 * 1024), true);
  });

  test('a renegotiation flood: none of 20 connections gets one granted; the daemon keeps serving', async () => {
    const codes = await Promise.all(Array.from({ length: 20 }, async () => {
      const s = await tlsClient(port, { maxVersion: 'TLSv1.2' });
      const err = await renegotiate(s);
      s.destroy();
      return err?.code ?? 'granted';
    }));
    assert.deepEqual(new Set(codes), new Set(['ERR_SSL_NO_RENEGOTIATION']));
    assert.equal(await healthyRoundTrip(port, 256 * 1024), true);
    assert.equal(daemon.child.exitCode, null, 'the daemon is still running');
  });

});
