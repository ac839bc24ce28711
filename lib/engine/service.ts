/**
 * @module engine/service
 * A service ready to serve: its configuration, its TLS side, its SNI secondaries and
 * the little state connections share (the round-robin position).
 */
import type { TLSSocketOptions } from 'node:tls';
import type { ServiceConfig } from '../config/model';
import type { ServiceTls } from '../tls/context';
import type { Destination } from './connect';
import type { SocketSetup } from './sockets';

export interface RuntimeService {
  readonly config: ServiceConfig;
  readonly tls: ServiceTls;
  /** Server-side SNI: secondary services of this primary, in file order. */
  readonly secondaries: RuntimeService[];
  /** Next round-robin start position (`failover = rr`). */
  rrNext: number;
  /**
   * Where `connect` goes, resolved when the service started; null = resolve for every
   * connection (`delay = yes`, or a name that did not resolve at start).
   */
  destinations: Destination[] | null;
  /** Options for accepted and for remote sockets. */
  readonly localSetup: SocketSetup;
  readonly remoteSetup: SocketSetup;
  /** Server side: the options of every TLSSocket, built on first use (callbacks find their tunnel through the socket). */
  serverOptions: TLSSocketOptions | null;
}

/** `*.example.com` matches `a.example.com` (and deeper names); otherwise a case-insensitive equality. */
export function sniPatternMatches(pattern: string, servername: string): boolean {
  const name = servername.toLowerCase();
  const wanted = pattern.toLowerCase();
  if (wanted.startsWith('*')) return name.endsWith(wanted.slice(1));
  return name === wanted;
}

/** The secondary service whose pattern matches `servername`, or undefined. */
export function sniSecondary(primary: RuntimeService, servername: string): RuntimeService | undefined {
  return primary.secondaries.find((s) => s.config.sniPattern !== null && sniPatternMatches(s.config.sniPattern, servername));
}
