/**
 * @module engine/proxy-header
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2), both ways: an incremental
 * parser of what a balancer sends before the client's bytes, and the v1/v2 headers
 * `protocol = proxy` sends to a backend. Pure: bytes in, values out.
 *
 * PARSING. The parser is called with everything received so far and answers `more` (a prefix
 * of a valid header), `done` (the header's length and the client it names) or `error` (the
 * reason). It never looks past a hard cap: 107 bytes for v1 (the spec's maximum line), and
 * 16 + MAX_V2_BODY for v2; a header announcing more is refused before its bytes arrive.
 * v2 TLVs are skipped by the announced length, never interpreted. A LOCAL command (a
 * balancer's health check), `PROXY UNKNOWN` and families other than TCP over IPv4/IPv6 name
 * no client: the connection's own addresses stand.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The client and the address it connected to, as a header names them. */
export interface ProxiedAddresses {
  readonly address: string;
  readonly port: number;
  readonly localAddress: string;
  readonly localPort: number;
}

export type HeaderParse =
  | { readonly kind: 'more' }
  | { readonly kind: 'done'; readonly length: number; readonly version: 1 | 2; readonly client: ProxiedAddresses | null }
  | { readonly kind: 'error'; readonly reason: string };

/** The longest v1 line, CRLF included (spec section 2.1). */
export const MAX_V1_LENGTH = 107;
/** The most v2 address and TLV bytes accepted after the 16-byte fixed part. */
export const MAX_V2_BODY = 2048;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const MORE: HeaderParse = { kind: 'more' };

const PP2_CMD_LOCAL = 0x0;
const PP2_CMD_PROXY = 0x1;
const PP2_AF_INET = 0x1;
const PP2_AF_INET6 = 0x2;

/** Does `data` start with (a prefix of) `expected`? */
function startsLike(data: Buffer, expected: Buffer): boolean {
  const n = Math.min(data.length, expected.length);
  return data.subarray(0, n).equals(expected.subarray(0, n));
}

/** Parses the header at the start of `data` (everything received so far). */
export function parseProxyHeader(data: Buffer): HeaderParse {
  if (data.length === 0) return MORE;
  if (startsLike(data, V1_PREFIX)) return parseV1(data);
  if (startsLike(data, V2_SIGNATURE)) return parseV2(data);
  return { kind: 'error', reason: 'no PROXY header' };
}

function error(reason: string): HeaderParse {
  return { kind: 'error', reason };
}

function parseV1(data: Buffer): HeaderParse {
  const window = data.subarray(0, MAX_V1_LENGTH);
  // The first LF ends the line; it must follow a CR (a prefix and the whole then agree).
  const lf = window.indexOf(0x0a);
  if (lf < 0) return data.length >= MAX_V1_LENGTH ? error(`PROXY v1 line longer than ${MAX_V1_LENGTH} bytes`) : MORE;
  if (window[lf - 1] !== 0x0d) return error('PROXY v1 line not ended by CRLF');
  const end = lf - 1;
  const length = lf + 1;
  const fields = window.subarray(0, end).toString('latin1').split(' ');
  if (fields[1] === 'UNKNOWN') return { kind: 'done', length, version: 1, client: null };
  if (fields.length !== 6) return error('malformed PROXY v1 line');
  const [, family, source, destination, sourcePort, destinationPort] = fields;
  const valid = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : null;
  if (valid === null) return error(`unknown PROXY v1 protocol "${printable(family)}"`);
  if (!valid(source) || !valid(destination)) return error(`bad ${family} address in PROXY v1 line`);
  const port = v1Port(sourcePort);
  const localPort = v1Port(destinationPort);
  if (port === null || localPort === null) return error('bad port in PROXY v1 line');
  return { kind: 'done', length, version: 1, client: { address: source, port, localAddress: destination, localPort } };
}

function v1Port(text: string): number | null {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

function parseV2(data: Buffer): HeaderParse {
  if (data.length < 16) return MORE;
  const versionCommand = data[12];
  if (versionCommand >> 4 !== 2) return error(`PROXY v2 header with version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command !== PP2_CMD_LOCAL && command !== PP2_CMD_PROXY) return error(`PROXY v2 header with command ${command}`);
  const body = data.readUInt16BE(14);
  if (body > MAX_V2_BODY) return error(`PROXY v2 header of ${16 + body} bytes (at most ${16 + MAX_V2_BODY})`);
  const length = 16 + body;
  if (data.length < length) return MORE;
  if (command === PP2_CMD_LOCAL) return { kind: 'done', length, version: 2, client: null };
  const family = data[13] >> 4;
  const transport = data[13] & 0x0f;
  // Only TCP (STREAM) over IPv4/IPv6 names a client we can use; the rest keeps the connection's addresses.
  if (transport !== 1 || (family !== PP2_AF_INET && family !== PP2_AF_INET6)) return { kind: 'done', length, version: 2, client: null };
  const size = family === PP2_AF_INET ? 4 : 16;
  if (body < 2 * size + 4) return error('PROXY v2 header too short for its addresses');
  const at = 16;
  const client = {
    address: ipText(data.subarray(at, at + size)),
    localAddress: ipText(data.subarray(at + size, at + 2 * size)),
    port: data.readUInt16BE(at + 2 * size),
    localPort: data.readUInt16BE(at + 2 * size + 2),
  };
  return { kind: 'done', length, version: 2, client };
}

/** 4 bytes as dotted quad; 16 as IPv6 text (IPv4-mapped kept as Node prints it: ::ffff:a.b.c.d). */
function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The longest run of two or more zero groups becomes '::' (RFC 5952).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) { best = i; bestLength = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}

/** A field of a refused header, safe to log (control and non-ASCII bytes shown as '?', at most 16 characters). */
function printable(text: string): string {
  return text.slice(0, 16).replace(/[^\x20-\x7e]/g, '?');
}

// ─── sending ─────────────────────────────────────────────────────────────────

/** `PROXY TCP4 src dst sport dport\r\n`, as stunnel's `protocol = proxy` sends it; UNKNOWN without addresses. */
export function proxyV1(addresses: ProxiedAddresses | null): Buffer {
  if (!addresses) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const family = addresses.address.includes(':') ? 'TCP6' : 'TCP4';
  const { address, localAddress, port, localPort } = addresses;
  return Buffer.from(`PROXY ${family} ${address} ${localAddress} ${port} ${localPort}\r\n`, 'latin1');
}

/** PROXY v2 TLV types (spec section 2.2.x). */
export const PP2_TYPE = { ALPN: 0x01, AUTHORITY: 0x02, SSL: 0x20, SSL_VERSION: 0x21, SSL_CN: 0x22, SSL_CIPHER: 0x23 } as const;
/** PP2_TYPE_SSL client flags. */
export const PP2_CLIENT = { SSL: 0x01, CERT_CONN: 0x02, CERT_SESS: 0x04 } as const;

/** What the TLS side of a tunnel tells the backend in a v2 header. */
export interface TlsFacts {
  readonly alpn: string | null;
  readonly servername: string | null;
  readonly version: string | null;
  readonly cipher: string | null;
  /** A client certificate was presented on this connection / on the resumed session. */
  readonly certConnection: boolean;
  readonly certSession: boolean;
  /** The client certificate was verified (or none was needed): 0 in PP2_TYPE_SSL's verify field. */
  readonly verified: boolean;
  readonly commonName: string | null;
}

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

/** The PP2_TYPE_SSL TLV: client flags, verify result, then version / cipher / CN sub-TLVs. */
function sslTlv(tls: TlsFacts): Buffer {
  const fixed = Buffer.alloc(5);
  fixed[0] = PP2_CLIENT.SSL | (tls.certConnection ? PP2_CLIENT.CERT_CONN : 0) | (tls.certSession ? PP2_CLIENT.CERT_SESS : 0);
  fixed.writeUInt32BE(tls.verified ? 0 : 1, 1);
  const subs: Buffer[] = [fixed];
  if (tls.version) subs.push(tlv(PP2_TYPE.SSL_VERSION, Buffer.from(tls.version, 'latin1')));
  if (tls.cipher) subs.push(tlv(PP2_TYPE.SSL_CIPHER, Buffer.from(tls.cipher, 'latin1')));
  if (tls.commonName) subs.push(tlv(PP2_TYPE.SSL_CN, Buffer.from(tls.commonName, 'utf8')));
  return tlv(PP2_TYPE.SSL, Buffer.concat(subs));
}

function ipBytes(text: string, family: 4 | 6): Buffer {
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped) return Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), ipBytes(mapped[1], 4)]);
  const [head, tail = ''] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = text.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups: string[] = [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

/** The binary v2 header: PROXY over TCP4/TCP6 with the TLS TLVs, or LOCAL when there are no addresses. */
export function proxyV2(addresses: ProxiedAddresses | null, tls: TlsFacts | null): Buffer {
  const tlvs: Buffer[] = [];
  if (tls) {
    if (tls.alpn) tlvs.push(tlv(PP2_TYPE.ALPN, Buffer.from(tls.alpn, 'latin1')));
    if (tls.servername) tlvs.push(tlv(PP2_TYPE.AUTHORITY, Buffer.from(tls.servername, 'utf8')));
    tlvs.push(sslTlv(tls));
  }
  let head: number;
  let familyByte: number;
  let addressBlock: Buffer;
  const v4 = addresses !== null && isIPv4(addresses.address) && isIPv4(addresses.localAddress);
  const v6 = addresses !== null && !v4 && isIPv6(addresses.address) && isIPv6(addresses.localAddress);
  if (addresses && (v4 || v6)) {
    const family = v4 ? 4 : 6;
    head = 0x20 | PP2_CMD_PROXY;
    familyByte = ((v4 ? PP2_AF_INET : PP2_AF_INET6) << 4) | 0x1;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(addresses.port, 0);
    ports.writeUInt16BE(addresses.localPort, 2);
    addressBlock = Buffer.concat([ipBytes(addresses.address, family), ipBytes(addresses.localAddress, family), ports]);
  } else {
    head = 0x20 | PP2_CMD_LOCAL;
    familyByte = 0;
    addressBlock = Buffer.alloc(0);
  }
  const body = Buffer.concat([addressBlock, ...tlvs]);
  const fixed = Buffer.alloc(4);
  fixed[0] = head;
  fixed[1] = familyByte;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}
