/**
 * @module engine/tunnel-state
 * What a tunnel holds in each phase (engine/tunnel draws the machine). A phase is one
 * small object, replaced at every step, so each stream, timer and pending piece of work
 * exists only in the phases where it is valid, and the type checker proves it.
 *
 * Every live phase names its TLS socket and its far side (null when there is none yet):
 * whatever the phase the tunnel ends in, closing it reads those two.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Destination, Dialer } from './connect';
import type { Relay } from './relay';

/** The far side, once there is one: a dialed socket or an exec'd program. */
export interface Far {
  readonly stream: Duplex;
  /** The dialed socket (null for a program): its options, its FIN, its reset. */
  readonly raw: Socket | null;
  /** Where it was dialed (null for a program). */
  readonly destination: Destination | null;
}

/** Accepted; the PROXY header (`acceptProxy`) may still be on its way. */
export interface Accepted {
  readonly phase: 'accepted';
  readonly tls: null;
  readonly far: null;
}

/** Finding the far side: names resolved (`delay`), then one address after another. */
export interface Dialing {
  readonly phase: 'dialing';
  /** Server mode: the verified client (null when smtp/pop3 dial before the handshake). */
  readonly tls: TLSSocket | null;
  readonly far: null;
  /** Null while names are resolved. */
  dialer: Dialer | null;
  /** performance.now() when the dialer started (meter only). */
  since: number;
}

/**
 * A protocol dialogue under TIMEOUTbusy: in the clear before the handshake (client-mode
 * protocols, smtp/pop3/pgsql in server mode), or socks inside TLS.
 */
export interface Negotiating {
  readonly phase: 'negotiating';
  readonly tls: TLSSocket | null;
  readonly far: Far | null;
  readonly timer: NodeJS.Timeout;
}

/** A TLS handshake under TIMEOUTbusy, then the verdict on the peer (OCSP may be pending). */
interface Handshaking {
  readonly tls: TLSSocket;
  /** TIMEOUTbusy; null once the handshake is done. */
  timer: NodeJS.Timeout | null;
  /** The pending OCSP check, aborted if the tunnel ends first. */
  ocsp: AbortController | null;
  /** performance.now() when the handshake began (meter only). */
  readonly since: number;
}

/** Server mode: the client's handshake. */
export interface ServerHandshake extends Handshaking {
  readonly phase: 'handshake';
  /** smtp/pop3: the backend the dialogue was held with; else none yet. */
  readonly far: Far | null;
  /** The handshake was keyed by one of our PSKsecrets (not a resumption). */
  externalPsk: boolean;
}

/** Client mode: our handshake with the server over the far side. */
export interface ClientHandshake extends Handshaking {
  readonly phase: 'connectingTls';
  readonly far: Far;
  /** A session from the cache of accepted servers was offered. */
  readonly offeredSession: boolean;
  /** A session the server sent before its verdict: kept only if it is accepted. */
  pendingSession: Buffer | null;
}

export interface Relaying {
  readonly phase: 'relaying';
  readonly tls: TLSSocket;
  readonly far: Far;
  readonly relay: Relay;
}

export interface Ended {
  readonly phase: 'ended';
}

export type Live = Accepted | Dialing | Negotiating | ServerHandshake | ClientHandshake | Relaying;
export type State = Live | Ended;

export const ACCEPTED: Accepted = Object.freeze({ phase: 'accepted', tls: null, far: null });
export const ENDED: Ended = Object.freeze({ phase: 'ended' });

/** The relay of a phase that has one. */
export function relayOf(state: State): Relay | null {
  return state.phase === 'relaying' ? state.relay : null;
}
