/**
 * The PROXY header parser (acceptProxy) and builders (protocol = proxy, proxyVersion):
 * v1 and v2 read whole or byte by byte, LOCAL and UNKNOWN name no client, TLVs skipped,
 * every malformed or oversized header refused with its reason before the cap is passed;
 * the v2 header we send parses back to the same addresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_V1_LENGTH, MAX_V2_BODY, parseProxyHeader, proxyV1, proxyV2, type HeaderParse } from '../../lib/engine/proxy-header';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const CLIENT = { address: '127.0.9.9', port: 40000, localAddress: '127.0.2.1', localPort: 443 };

/** Feeds `bytes` one at a time: every strict prefix must ask for more, the whole gives the result. */
function byteByByte(bytes: Buffer): HeaderParse {
  for (let i = 1; i < bytes.length; i++) {
    const partial = parseProxyHeader(bytes.subarray(0, i));
    if (partial.kind !== 'more') return partial;
  }
  return parseProxyHeader(bytes);
}

function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.from([0x20 | command, family, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

test('v1 TCP4 and TCP6, read whole and byte by byte, with the bytes after it left alone', () => {
  const line = Buffer.from('PROXY TCP4 127.0.9.9 127.0.2.1 40000 443\r\n');
  const data = Buffer.concat([line, Buffer.from([0x16, 0x03, 0x01])]);
  const expected = { kind: 'done', length: line.length, version: 1, client: CLIENT };
  assert.deepEqual(parseProxyHeader(data), expected);
  assert.deepEqual(byteByByte(line), expected);
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n')), {
    kind: 'done', length: 36, version: 1, client: { address: '2001:db8::1', port: 1, localAddress: '::1', localPort: 65535 },
  });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN whatever\r\nX')), { kind: 'done', length: 24, version: 1, client: null });
});

test('v1 refusals: no header, bad fields, a line past 107 bytes without waiting for more', () => {
  const reasons: Array<[string, string]> = [
    ['GET / HTTP/1.1\r\n', 'no PROXY header'],
    ['\x16\x03\x01', 'no PROXY header'],
    ['PROXY TCP4 127.0.0.1 127.0.0.1 1 2\n', 'PROXY v1 line not ended by CRLF'],
    ['PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n', 'unknown PROXY v1 protocol "UDP4"'],
    ['PROXY TCP4 1.2.3.4 ::1 1 2\r\n', 'bad TCP4 address in PROXY v1 line'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n', 'bad port in PROXY v1 line'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n', 'bad port in PROXY v1 line'],
    ['PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n', 'malformed PROXY v1 line'],
  ];
  for (const [text, reason] of reasons) assert.deepEqual(parseProxyHeader(Buffer.from(text, 'latin1')), { kind: 'error', reason }, text);
  const long = Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`);
  assert.deepEqual(byteByByte(long), { kind: 'error', reason: `PROXY v1 line longer than ${MAX_V1_LENGTH} bytes` });
});

test('v2 PROXY over IPv4 and IPv6 with TLVs skipped; LOCAL and UNSPEC name no client', () => {
  const tlvs = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x05, 0x00, 0x00]);
  const v4 = v2(1, 0x11, Buffer.concat([Buffer.from([127, 0, 9, 9, 127, 0, 2, 1, 0x9c, 0x40, 0x01, 0xbb]), tlvs]));
  assert.deepEqual(byteByByte(v4), { kind: 'done', length: v4.length, version: 2, client: CLIENT });
  const six = Buffer.alloc(36);
  six[15] = 1; // ::1
  six[16] = 0x20; six[17] = 0x01; six[18] = 0x0d; six[19] = 0xb8; six[31] = 5; // 2001:db8::5
  six.writeUInt16BE(1234, 32);
  six.writeUInt16BE(443, 34);
  assert.deepEqual(parseProxyHeader(v2(1, 0x21, six)), {
    kind: 'done', length: 52, version: 2, client: { address: '::1', port: 1234, localAddress: '2001:db8::5', localPort: 443 },
  });
  assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), { kind: 'done', length: 16, version: 2, client: null });
  assert.deepEqual(parseProxyHeader(v2(1, 0x00, Buffer.alloc(3))), { kind: 'done', length: 19, version: 2, client: null });
});

test('v2 refusals: version, command, short address block, and a length past the cap refused at once', () => {
  const bad = (bytes: Buffer) => (parseProxyHeader(bytes) as { reason?: string }).reason;
  const ok = v2(1, 0x11, Buffer.alloc(12));
  const version1 = Buffer.from(ok);
  version1[12] = 0x11;
  assert.equal(bad(version1), 'PROXY v2 header with version 1');
  const command = Buffer.from(ok);
  command[12] = 0x23;
  assert.equal(bad(command), 'PROXY v2 header with command 3');
  assert.equal(bad(v2(1, 0x11, Buffer.alloc(8))), 'PROXY v2 header too short for its addresses');
  const huge = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
  assert.equal(bad(huge), `PROXY v2 header of ${16 + 0xffff} bytes (at most ${16 + MAX_V2_BODY})`);
});

test('what protocol = proxy sends parses back: v1 as stunnel writes it, v2 with the TLS TLVs', () => {
  assert.equal(proxyV1(CLIENT).toString(), 'PROXY TCP4 127.0.9.9 127.0.2.1 40000 443\r\n');
  assert.equal(proxyV1(null).toString(), 'PROXY UNKNOWN\r\n');
  const facts = {
    alpn: 'h2', servername: 'www.example.test', version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384',
    certConnection: true, certSession: true, verified: true, commonName: 'client',
  };
  const header = proxyV2(CLIENT, facts);
  const parsed = parseProxyHeader(header);
  assert.deepEqual(parsed, { kind: 'done', length: header.length, version: 2, client: CLIENT });
  const text = header.toString('latin1');
  for (const part of ['\x01\x00\x02h2', '\x02\x00\x10www.example.test', '\x21\x00\x07TLSv1.3', '\x23\x00\x16TLS_AES_256_GCM_SHA384', '\x22\x00\x06client']) {
    assert.ok(text.includes(part), JSON.stringify(part));
  }
  // PP2_TYPE_SSL: client = SSL|CERT_CONN|CERT_SESS, verify = 0.
  const ssl = header.indexOf(0x20, 28);
  assert.deepEqual([...header.subarray(ssl + 3, ssl + 8)], [0x07, 0, 0, 0, 0]);
  const v6 = { address: '2001:db8::7', port: 1, localAddress: '::ffff:127.0.0.1', localPort: 2 };
  assert.deepEqual(parseProxyHeader(proxyV2(v6, null)), { kind: 'done', length: 52, version: 2, client: v6 });
  assert.deepEqual(parseProxyHeader(proxyV2(null, null)), { kind: 'done', length: 16, version: 2, client: null });
});
