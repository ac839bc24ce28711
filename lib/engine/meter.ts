/**
 * @module engine/meter
 * What the engine reports to a meter (the `metrics` option, lib/metrics): events the tunnel
 * and the engine already have, told as they happen. The engine holds `TunnelMeter | null`;
 * with metrics off it is null and every report is one null check.
 *
 * Labels: `service` is the section that accepted for `accepted`/`ended` (the active gauge),
 * and the section that served the connection (an SNI secondary after a switch) for the rest.
 */
import type { ServiceConfig } from '../config/model';

/** Why a TLS handshake failed: a small fixed set, so the label stays bounded. */
export const HANDSHAKE_FAILURES = ['protocol', 'verify', 'timeout', 'eof', 'other'] as const;
export type HandshakeFailure = typeof HANDSHAKE_FAILURES[number];

export interface TunnelMeter {
  /** A connection was taken on by `service` (active + 1). */
  accepted(service: string): void;
  /** A connection `accepted` earlier is gone, whichever way (active − 1). */
  ended(service: string): void;
  handshakeDone(service: string, seconds: number, resumed: boolean): void;
  handshakeFailed(service: string, reason: HandshakeFailure): void;
  backendConnected(seconds: number): void;
  backendFailed(service: string, seconds: number): void;
  /** The `Connection closed|reset` line's moment, with its byte counts. */
  closed(service: string, reset: boolean, sentToTls: number, sentToSocket: number): void;
  /** The descriptor table filled up (once per burst, as logged). */
  fdWall(): void;
  /** The engine's limits and the services it now serves (start and every reload). */
  configure(clientsAllowed: number, services: readonly ServiceConfig[], listeners: () => ReadonlyMap<string, number>): void;
}

/** The reason label of a handshake that failed with `err` (a TLS error, or the socket's). */
export function handshakeFailureOf(err: Error): HandshakeFailure {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (/CERTIFICATE|UNKNOWN_CA|VERIFY/.test(code)) return 'verify';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'eof';
  if (code.startsWith('ERR_SSL_')) return 'protocol';
  return 'other';
}
