/**
 * @module net/sockopts
 * Applies `socket = a|l|r:OPTION=VALUE` options to Node sockets.
 * The engine calls applySocketOptions for the listening socket ('a', after listen), each
 * accepted socket ('l') and each remote socket ('r', once connected). Every option stunnel
 * lists in `-sockets` is set with setsockopt(2) on the socket's descriptor through the native
 * addon; without the addon only the two Node has an API for (SO_KEEPALIVE, TCP_NODELAY) work.
 */
import type * as net from 'node:net';
import { endianness } from 'node:os';
import type { SocketOption } from '../config/model';
import { errnoMessage } from '../errno';
import { nativeAddon, type NativeAddon } from '../process/native';

/** How an option's value is laid out in C. */
type ValueKind = 'bool' | 'int' | 'linger' | 'timeval' | 'string';

interface OptionSpec {
  readonly level: 'SOL_SOCKET' | 'IPPROTO_TCP' | 'IPPROTO_IP' | 'IPPROTO_IPV6';
  readonly kind: ValueKind;
}

/** stunnel's `-sockets` table, plus TCP_MAXSEG, TCP_USER_TIMEOUT and SO_REUSEPORT from Linux. */
export const SOCKET_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  SO_DEBUG: { level: 'SOL_SOCKET', kind: 'bool' },
  SO_DONTROUTE: { level: 'SOL_SOCKET', kind: 'bool' },
  SO_KEEPALIVE: { level: 'SOL_SOCKET', kind: 'bool' },
  SO_LINGER: { level: 'SOL_SOCKET', kind: 'linger' },
  SO_OOBINLINE: { level: 'SOL_SOCKET', kind: 'bool' },
  SO_RCVBUF: { level: 'SOL_SOCKET', kind: 'int' },
  SO_SNDBUF: { level: 'SOL_SOCKET', kind: 'int' },
  SO_RCVLOWAT: { level: 'SOL_SOCKET', kind: 'int' },
  SO_SNDLOWAT: { level: 'SOL_SOCKET', kind: 'int' },
  SO_RCVTIMEO: { level: 'SOL_SOCKET', kind: 'timeval' },
  SO_SNDTIMEO: { level: 'SOL_SOCKET', kind: 'timeval' },
  SO_REUSEADDR: { level: 'SOL_SOCKET', kind: 'bool' },
  SO_REUSEPORT: { level: 'SOL_SOCKET', kind: 'bool' },
  SO_BINDTODEVICE: { level: 'SOL_SOCKET', kind: 'string' },
  TCP_KEEPCNT: { level: 'IPPROTO_TCP', kind: 'int' },
  TCP_KEEPIDLE: { level: 'IPPROTO_TCP', kind: 'int' },
  TCP_KEEPINTVL: { level: 'IPPROTO_TCP', kind: 'int' },
  TCP_NODELAY: { level: 'IPPROTO_TCP', kind: 'bool' },
  TCP_MAXSEG: { level: 'IPPROTO_TCP', kind: 'int' },
  TCP_USER_TIMEOUT: { level: 'IPPROTO_TCP', kind: 'int' },
  IP_TOS: { level: 'IPPROTO_IP', kind: 'int' },
  IP_TTL: { level: 'IPPROTO_IP', kind: 'int' },
  IP_FREEBIND: { level: 'IPPROTO_IP', kind: 'bool' },
  IPV6_V6ONLY: { level: 'IPPROTO_IPV6', kind: 'bool' },
};

/** A value read back: an integer, [on, seconds] / [seconds, microseconds], or a device name. */
export type SocketOptionValue = number | readonly [number, number] | string;

/** The descriptor behind a Node socket or server (a TLSSocket's handle shares its TCP socket's fd). */
export function socketFd(target: net.Socket | net.Server): number {
  const handle = (target as unknown as { _handle?: { fd?: number } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket options: the socket has no file descriptor (not open yet?)');
  return fd;
}

const LITTLE_ENDIAN = endianness() === 'LE';

function packInts(values: readonly number[], width: number): Buffer {
  const buffer = Buffer.alloc(values.length * width);
  values.forEach((value, i) => {
    if (width === 8) {
      if (LITTLE_ENDIAN) buffer.writeBigInt64LE(BigInt(value), i * 8);
      else buffer.writeBigInt64BE(BigInt(value), i * 8);
    } else if (LITTLE_ENDIAN) buffer.writeInt32LE(value, i * 4);
    else buffer.writeInt32BE(value, i * 4);
  });
  return buffer;
}

function unpackInt(buffer: Buffer, offset: number, width: number): number {
  if (width === 8) return Number(LITTLE_ENDIAN ? buffer.readBigInt64LE(offset) : buffer.readBigInt64BE(offset));
  return LITTLE_ENDIAN ? buffer.readInt32LE(offset) : buffer.readInt32BE(offset);
}

function encode(addon: NativeAddon, spec: OptionSpec, value: SocketOption['value'], name: string): Buffer {
  const c = addon.constants;
  switch (spec.kind) {
    case 'string':
      return Buffer.from(String(value) + '\0');
    case 'linger':
    case 'timeval': {
      const pair = Array.isArray(value) ? value : [Number(value), 0];
      return packInts(pair, spec.kind === 'linger' ? c.SIZEOF_INT : c.SIZEOF_LONG);
    }
    default:
      if (typeof value !== 'number') throw new Error(`socket option ${name}: expected a number`);
      return packInts([value], c.SIZEOF_INT);
  }
}

/** Sets one option on a descriptor; throws `setsockopt NAME: text (errno)` on failure. */
export function setSocketOption(addon: NativeAddon, fd: number, name: string, value: SocketOption['value']): void {
  const spec = SOCKET_OPTIONS[name];
  if (!spec) throw new Error(`socket option ${name}: not supported`);
  const rc = addon.setsockopt(fd, addon.constants[spec.level], addon.constants[name], encode(addon, spec, value, name));
  if (rc < 0) throw new Error(`setsockopt ${name}: ${errnoMessage(rc)}`);
}

/** Reads one option back with getsockopt(2) (tests and diagnostics). Needs the addon. */
export function readSocketOption(target: net.Socket | net.Server | number, name: string): SocketOptionValue {
  const addon = nativeAddon();
  if (addon === null) throw new Error(`socket option ${name}: reading it needs the native addon`);
  const spec = SOCKET_OPTIONS[name];
  if (!spec) throw new Error(`socket option ${name}: not supported`);
  const fd = typeof target === 'number' ? target : socketFd(target);
  const c = addon.constants;
  const size = spec.kind === 'string' ? 64 : spec.kind === 'timeval' ? 2 * c.SIZEOF_LONG : spec.kind === 'linger' ? 2 * c.SIZEOF_INT : c.SIZEOF_INT;
  const result = addon.getsockopt(fd, c[spec.level], c[name], size);
  if (typeof result === 'number') throw new Error(`getsockopt ${name}: ${errnoMessage(result)}`);
  switch (spec.kind) {
    case 'string': {
      const end = result.indexOf(0);
      return result.subarray(0, end < 0 ? result.length : end).toString();
    }
    case 'linger':
      return [unpackInt(result, 0, c.SIZEOF_INT), unpackInt(result, c.SIZEOF_INT, c.SIZEOF_INT)];
    case 'timeval':
      return [unpackInt(result, 0, c.SIZEOF_LONG), unpackInt(result, c.SIZEOF_LONG, c.SIZEOF_LONG)];
    default:
      return unpackInt(result, 0, c.SIZEOF_INT);
  }
}

/** Without the addon, the options Node itself can set. */
function applyWithNode(target: net.Socket | net.Server, option: SocketOption): void {
  const socket = target as net.Socket;
  if (option.name === 'SO_KEEPALIVE' && typeof socket.setKeepAlive === 'function') {
    socket.setKeepAlive(option.value !== 0);
  } else if (option.name === 'TCP_NODELAY' && typeof socket.setNoDelay === 'function') {
    socket.setNoDelay(option.value !== 0);
  } else {
    throw new Error(`socket = ${option.target}:${option.name}: needs the native addon, which is not built (run npm install)`);
  }
}

/**
 * What `listen()` must know before it binds: IPV6_V6ONLY cannot change on a bound socket,
 * so 'a:IPV6_V6ONLY' becomes Node's `ipv6Only` listen option (applySocketOptions skips it).
 */
export function listenOptions(options: readonly SocketOption[]): { ipv6Only?: boolean } {
  const v6only = options.filter((o) => o.target === 'a' && o.name === 'IPV6_V6ONLY').pop();
  return v6only ? { ipv6Only: v6only.value !== 0 } : {};
}

/**
 * Applies the options meant for this kind of socket, in configuration order, after stunnel's
 * own default (TCP_NODELAY on accepted and remote sockets). Throws on the first option the
 * kernel refuses, with `setsockopt NAME: text (errno)`: the caller decides whether that ends
 * the connection (l/r) or the service (a).
 */
export function applySocketOptions(
  target: net.Socket | net.Server,
  kind: 'a' | 'l' | 'r',
  options: readonly SocketOption[],
): void {
  const mine = options.filter((o) => o.target === kind && !(kind === 'a' && o.name === 'IPV6_V6ONLY'));
  if (kind !== 'a' && !mine.some((o) => o.name === 'TCP_NODELAY')) {
    const socket = target as net.Socket;
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
  }
  if (mine.length === 0) return;
  const addon = nativeAddon();
  if (addon === null) {
    for (const option of mine) applyWithNode(target, option);
    return;
  }
  const fd = socketFd(target);
  for (const option of mine) setSocketOption(addon, fd, option.name, option.value);
}
