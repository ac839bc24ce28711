/**
 * @module engine/socks
 * `protocol = socks` in server mode: after the TLS handshake the client speaks SOCKS 4, 4a or
 * 5 inside TLS, and its CONNECT request names the destination (the service has no `connect`).
 * As stunnel 5.68 does, observed byte by byte:
 *
 *   - SOCKS 5 without authentication only (`No supported SOCKS5 authentication method
 *     received` otherwise), CONNECT only (`Unsupported SOCKS5 command 0xNN`, reply 7);
 *   - an IPv4, IPv6 or domain-name destination (`SOCKS5 IPv4 address received`, `SOCKS5
 *     resolved "name" to N host(s)`, `SOCKS4 address received`, `SOCKS4a resolved …`);
 *   - the host's own addresses are refused, for every address a name resolves to (`SOCKS
 *     connection to the IPv4 loopback rejected`, reply 2 / 0x5B): a SOCKS server must not open
 *     the host's own services to the network. stunnel refuses 127/8 and ::1; we also refuse the
 *     unspecified addresses and the IPv4-mapped forms (`engine/socks-forbidden`);
 *   - the success reply (0 / 0x5A, with the destination's address) is sent before the
 *     connection to the destination is made; if that fails, the tunnel just ends.
 */
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Speaker } from '../tls/verify';
import { addressText } from './address';
import type { Destination } from './connect';
import { Failed, unexpectedClose, type NegotiationFailure } from './negotiate';
import { exactly, PullReader } from './reader';
import { forbidden, ipBytes, normalized } from './socks-forbidden';
import { resolveName, resolverErrorText } from '../net/resolve';

/** A SOCKS 4a user id or domain name longer than this is refused. */
const MAX_FIELD = 1024;

/** `n` bytes of the request. */
function take(r: PullReader, n: number): Promise<Buffer> {
  return r.pull(exactly(n), unexpectedClose);
}

/** A NUL-terminated SOCKS 4 field (user id, 4a host name), without its NUL. */
async function field(r: PullReader): Promise<Buffer> {
  const withNul = await r.pull((buffered) => {
    const nul = buffered.indexOf(0);
    if (nul < 0 && buffered.length > MAX_FIELD) throw new Failed({ text: 'SOCKS4 field too long', status: 'reset' });
    return nul < 0 ? -1 : nul + 1;
  }, unexpectedClose);
  return withNul.subarray(0, withNul.length - 1);
}

/** The IP a request's address bytes name. */
function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  return normalized(Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16)).join(':'));
}

function portBytes(port: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16BE(port);
  return bytes;
}

const family = (ip: string) => (isIP(ip) === 6 ? 'IPv6' : 'IPv4');

/** Every address of `name`, or null (logged) when it has none. */
async function resolve(name: string, version: 'SOCKS5' | 'SOCKS4a', log: Speaker): Promise<string[] | null> {
  try {
    const found = await resolveName(name, log);
    log.say(6, `${version} resolved "${name}" to ${found.length} host(s)`);
    return found.map((a) => a.address);
  } catch (err) {
    log.say(3, `Error resolving "${name}": ${resolverErrorText(err)}`);
    log.say(3, `${version} failed to resolve "${name}"`);
    return null;
  }
}

/** The first of `ips` no SOCKS client may reach, with stunnel's line for it. */
function refusal(ips: string[]): { ip: string; failure: Failed } | null {
  for (const ip of ips) {
    const why = forbidden(ip);
    if (why !== null) return { ip, failure: new Failed({ text: `SOCKS connection to the ${why} rejected`, status: 'closed' }) };
  }
  return null;
}

function destination(ip: string, port: number): Destination {
  return { kind: 'inet', host: ip, port, text: addressText(ip, port) };
}

async function socks5(r: PullReader, client: Duplex, log: Speaker): Promise<Destination[]> {
  const methods = await take(r, (await take(r, 1))[0]);
  if (!methods.includes(0)) {
    client.write(Buffer.from([5, 0xff]));
    throw new Failed({ text: 'No supported SOCKS5 authentication method received', status: 'closed' });
  }
  client.write(Buffer.from([5, 0]));
  const [, command, , addressType] = await take(r, 4);
  let ips: string[] | null;
  if (addressType === 1 || addressType === 4) {
    ips = [ipText(await take(r, addressType === 1 ? 4 : 16))];
    log.say(6, `SOCKS5 ${family(ips[0])} address received`);
  } else if (addressType === 3) {
    const name = (await take(r, (await take(r, 1))[0])).toString('latin1');
    ips = await resolve(name, 'SOCKS5', log);
  } else {
    throw new Failed({ text: `Unsupported SOCKS5 address type 0x${addressType.toString(16).padStart(2, '0')}`, status: 'reset' });
  }
  const port = (await take(r, 2)).readUInt16BE();
  // Without an address (a request refused before one is known): 0.0.0.0, port 0.
  const reply = (code: number, ip: string | null = null) =>
    client.write(Buffer.concat([Buffer.from([5, code, 0, ip !== null && isIP(ip) === 6 ? 4 : 1]), ipBytes(ip ?? '0.0.0.0'), portBytes(ip === null ? 0 : port)]));
  if (command !== 1) {
    reply(7);
    throw new Failed({ text: `Unsupported SOCKS5 command 0x${command.toString(16).padStart(2, '0')}`, status: 'closed' });
  }
  if (ips === null) {
    reply(4);
    throw new Failed({ text: null, status: 'closed' });
  }
  const refused = refusal(ips);
  if (refused !== null) {
    reply(2, refused.ip);
    throw refused.failure;
  }
  reply(0, ips[0]);
  return ips.map((ip) => destination(ip, port));
}

async function socks4(r: PullReader, client: Duplex, log: Speaker): Promise<Destination[]> {
  const head = await take(r, 7);
  const command = head[0];
  const port = head.readUInt16BE(1);
  const address = head.subarray(3, 7);
  await field(r); // the user id, not checked
  let ips: string[] | null;
  if (address[0] === 0 && address[1] === 0 && address[2] === 0 && address[3] !== 0) {
    ips = await resolve((await field(r)).toString('latin1'), 'SOCKS4a', log);
  } else {
    ips = [ipText(address)];
    log.say(6, 'SOCKS4 address received');
  }
  const reply = (granted: boolean, ip: string | null) =>
    client.write(Buffer.concat([Buffer.from([0, granted ? 0x5a : 0x5b]), portBytes(port), ip && isIP(ip) === 4 ? ipBytes(ip) : address]));
  if (command !== 1) {
    reply(false, null);
    throw new Failed({ text: `Unsupported SOCKS4 command 0x${command.toString(16).padStart(2, '0')}`, status: 'closed' });
  }
  if (ips === null) {
    reply(false, null);
    throw new Failed({ text: null, status: 'closed' });
  }
  const refused = refusal(ips);
  if (refused !== null) {
    reply(false, refused.ip);
    throw refused.failure;
  }
  reply(true, ips[0]);
  return ips.map((ip) => destination(ip, port));
}

/**
 * Reads the client's SOCKS request from `client` (the TLS stream), answers it, and resolves
 * with the destinations to connect to, or why the request was refused.
 */
export async function socksRequest(client: Duplex, log: Speaker): Promise<Destination[] | NegotiationFailure> {
  if (log.wants(7)) log.say(7, 'Waiting for the SOCKS request');
  const reader = new PullReader(client);
  try {
    const [version] = await take(reader, 1);
    if (version === 5) return await socks5(reader, client, log);
    if (version === 4) return await socks4(reader, client, log);
    return { text: `Unsupported SOCKS version 0x${version.toString(16).padStart(2, '0')}`, status: 'reset' };
  } catch (err) {
    if (err instanceof Failed) return err.failure;
    throw err;
  } finally {
    reader.release();
  }
}
