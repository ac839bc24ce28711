/**
 * @module net/sockopts
 * Applies `socket = a|l|r:OPTION=VALUE` options to Node sockets.
 * The engine calls applySocketOptions for the listening socket ('a', after listen), each
 * accepted socket ('l') and each remote socket ('r', once connected). Every option stunnel
 * lists in `-sockets` is set with setsockopt(2) on the socket's descriptor through the native
 * addon; without the addon only the two Node has an API for (SO_KEEPALIVE, TCP_NODELAY) work.
 * The option names, levels and value kinds are config/values' SOCKET_OPTIONS.
 */
import type * as net from 'node:net';
import { endianness } from 'node:os';
import type { SocketOption } from '../config/model';
import { SOCKET_OPTIONS, type SocketOptionRow } from '../config/values';
import { errnoMessage } from '../errno';
import { descriptorOf } from '../node-internals';
import { nativeAddon, type NativeAddon } from '../native';

/** stunnel's `-sockets` table (config/values), by name: the options a configuration can set. */
const BY_NAME: ReadonlyMap<string, SocketOptionRow> = new Map(SOCKET_OPTIONS.map((row) => [row.name, row]));

/** A value read back: an integer, [on, seconds] / [seconds, microseconds], or a device name. */
export type SocketOptionValue = number | readonly [number, number] | string;

/** The descriptor behind a Node socket or server (a TLSSocket's handle shares its TCP socket's fd). */
export function socketFd(target: net.Socket | net.Server): number {
  const fd = descriptorOf(target);
  if (fd === null) throw new Error('socket options: the socket has no file descriptor (not open yet?)');
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

function encode(addon: NativeAddon, spec: SocketOptionRow, value: SocketOption['value'], name: string): Buffer {
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
  const spec = BY_NAME.get(name);
  if (!spec) throw new Error(`socket option ${name}: not supported`);
  const rc = addon.setsockopt(fd, addon.constants[spec.level], addon.constants[name], encode(addon, spec, value, name));
  if (rc < 0) throw new Error(`setsockopt ${name}: ${errnoMessage(rc)}`);
}

/** Reads one option back with getsockopt(2) (tests and diagnostics). Needs the addon. */
export function readSocketOption(target: net.Socket | net.Server | number, name: string): SocketOptionValue {
  const addon = nativeAddon();
  if (addon === null) throw new Error(`socket option ${name}: reading it needs the native addon`);
  const spec = BY_NAME.get(name);
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
 * Applies the options meant for this kind of socket, in configuration order (stunnel's own
 * defaults, TCP_NODELAY on accepted and remote sockets, head the list: config/values). Throws on the first option the
 * kernel refuses, with `setsockopt NAME: text (errno)`: the caller decides whether that ends
 * the connection (l/r) or the service (a).
 */
export function applySocketOptions(
  target: net.Socket | net.Server,
  kind: 'a' | 'l' | 'r',
  options: readonly SocketOption[],
): void {
  const mine = options.filter((o) => o.target === kind && !(kind === 'a' && o.name === 'IPV6_V6ONLY'));
  if (mine.length === 0) return;
  const addon = nativeAddon();
  if (addon === null) {
    for (const option of mine) applyWithNode(target, option);
    return;
  }
  const fd = socketFd(target);
  for (const option of mine) setSocketOption(addon, fd, option.name, option.value);
}
