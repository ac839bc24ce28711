/**
 * @module engine/address
 * Addresses as stunnel prints them (`host:port`, no brackets, Unix paths bare) and as
 * Node listens on / connects to them.
 */
import type { AddressInfo } from 'node:net';
import type { Address } from '../config/model';

/** `127.0.0.1:443`, `:::443`, `/run/x.sock`. */
export function addressText(host: string, port: number): string {
  return `${host}:${port}`;
}

/** What a bound server reports, printed stunnel's way. */
export function boundText(info: AddressInfo | string | null, fallback: Address): string {
  if (typeof info === 'string') return info;
  if (info) return addressText(info.address, info.port);
  return fallback.text;
}

/** A peer of a socket (`remoteAddress:remotePort`), or '' for sockets without one (pipes). */
export function peerText(socket: { remoteAddress?: string; remotePort?: number }): string {
  return socket.remoteAddress !== undefined ? addressText(socket.remoteAddress, socket.remotePort ?? 0) : '';
}

/** An accept address with no host is the IPv4 wildcard, as stunnel binds it. */
export function listenHost(address: Address & { kind: 'inet' }): string {
  return address.host ?? '0.0.0.0';
}

/** Identity of a listening address: a listener is kept across reloads when this is unchanged. */
export function listenKey(address: Address): string {
  return address.kind === 'unix' ? `unix:${address.path}` : `inet:${listenHost(address)}:${address.port}`;
}

/** A connect address with no host is localhost. */
export function connectHost(address: Address & { kind: 'inet' }): string {
  return address.host ?? 'localhost';
}
