/**
 * @module engine/socks-forbidden
 * The destinations no SOCKS client may reach: the host's own services. A SOCKS server must not
 * open to the network what listens on loopback only. stunnel 5.68 refuses 127.0.0.0/8 and ::1;
 * the kernel reaches the same services through other spellings, refused here too:
 *
 *   IPv4 loopback              127.0.0.0/8, and as ::ffff:127.x.y.z or ::127.x.y.z
 *   IPv4 unspecified address   0.0.0.0/8 (Linux connects 0.0.0.0 to the host itself), mapped too
 *   IPv6 loopback              ::1
 *   IPv6 unspecified address   :: (the host itself, as [::1])
 *
 * The text is the middle of stunnel's line: `SOCKS connection to the IPv4 loopback rejected`.
 * Every address a name resolves to is checked, not the first only.
 */
import { isIP } from 'node:net';

export type Forbidden = `${'IPv4' | 'IPv6'} ${'loopback' | 'unspecified address'}`;

/** An IPv6 address in its shortest form (`::1`, `::ffff:7f00:1`), without a zone (`%eth0`); IPv4 as it is. */
export function normalized(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip.replace(/%.*$/, '')}]/`).hostname.slice(1, -1) : ip;
}

/** The address bytes of an IP: 4 for IPv4, 16 for IPv6. */
export function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head, tail = ''] = normalized(ip).split('::');
  const words = (part: string) => (part ? part.split(':').map((w) => parseInt(w, 16)) : []);
  const left = words(head);
  const right = words(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  all.forEach((word, i) => bytes.writeUInt16BE(word, i * 2));
  return bytes;
}

function ipv4(bytes: Buffer): Forbidden | null {
  if (bytes[0] === 127) return 'IPv4 loopback';
  if (bytes[0] === 0) return 'IPv4 unspecified address';
  return null;
}

/** Why `ip` is no destination for a SOCKS client, or null when it may be reached. */
export function forbidden(ip: string): Forbidden | null {
  const bytes = ipBytes(ip);
  if (bytes.length === 4) return ipv4(bytes);
  const zeros = (from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0);
  if (zeros(0, 15) && bytes[15] <= 1) return bytes[15] === 1 ? 'IPv6 loopback' : 'IPv6 unspecified address';
  const prefix = bytes.readUInt16BE(10);
  // IPv4-mapped (::ffff:a.b.c.d) reaches the IPv4 host on a dual-stack socket; IPv4-compatible (::a.b.c.d) is refused alike.
  if (zeros(0, 10) && (prefix === 0xffff || prefix === 0)) return ipv4(bytes.subarray(12));
  return null;
}
