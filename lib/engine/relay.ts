/**
 * @module engine/relay
 * Moves bytes both ways between the TLS side and the plain side of a tunnel.
 *
 *   both open ──EOF on one side──▶ half-closed ──EOF on the other──▶ closed
 *       │  (TIMEOUTidle)               │ (TIMEOUTclose; TIMEOUTidle while bytes are held)
 *       ▼                              ▼
 *     reset                          closed (reset if held bytes never move)
 *
 * An EOF is passed on (TCP FIN ↔ TLS close_notify) while the other direction keeps
 * flowing. Both timeouts measure silence, as stunnel's per-poll timeout does: every
 * relayed chunk (and every drain) pushes the deadline back, half-closed or not.
 * TIMEOUTclose never drops a byte the relay has accepted: while one is still held for a
 * peer (stunnel's non-empty buffers), the deadline is TIMEOUTidle and its expiry a reset.
 *
 * A peer that resets its socket (ECONNRESET, EPIPE) ends the connection normally, as
 * stunnel does: after a TLS peer's reset the plain side is closed; after a
 * plain peer's reset the TLS side still gets its close_notify. Other errors are resets.
 *
 * Backpressure: a side stops reading while the other side's write buffer is full
 * (write() returned false) and resumes on 'drain', so memory stays bounded whatever the
 * peers do. Listeners are module-level functions that find their Side through the
 * stream; per chunk there is one write, one counter and one timer refresh.
 *
 * A plain socket the engine dialed reads into the shared buffer (engine/shared-read): its
 * chunks reach the relay as views, written to the TLS side at once, where Node encrypts
 * (or copies) them before write() returns. A view is copied only when that write would be
 * queued behind one still in flight (the TLS stream holds bytes).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Timeouts } from '../config/model';
import { errnoText } from '../errno';
import { isPeerDisconnect } from './socket-errors';
import { tlsErrorText } from '../tls/describe';
import type { Speaker } from '../tls/verify';
import { alertExchanged, tlsToldStatus, type CloseStatus } from './status';
import { setReadSink } from './shared-read';

const SIDE = Symbol('relay side');
type RelayStream = Duplex & { [SIDE]?: Side };

/** One socket of the relay and what has happened to it. */
class Side {
  /** Bytes written to this side. */
  written = 0;
  /** The peer finished sending (EOF read). */
  readEnded = false;
  /** Our EOF to this side was flushed. */
  writeFinished = false;
  /** The peer is gone (reset): whatever is meant for it is dropped. */
  gone = false;
  other!: Side;

  constructor(readonly relay: Relay, readonly stream: RelayStream, readonly isTls: boolean) {}
}

/** What the relay reports to: lines, and once, how the connection ended. */
export interface RelayOwner extends Speaker {
  relayDone(status: CloseStatus): void;
}

export class Relay {
  readonly #tls: Side;
  readonly #plain: Side;
  readonly #owner: RelayOwner;
  readonly #timeouts: Timeouts;
  readonly #tlsIsRemote: boolean;
  #timer: NodeJS.Timeout | null = null;
  #closing = false;
  /** Half-closed, TIMEOUTclose passed with bytes still held: now waiting up to TIMEOUTidle. */
  #held = false;
  /** The timer fired; the verdict waits for this loop turn's I/O poll (see timerFired). */
  #expiring = false;
  #finished = false;

  /**
   * @param tls the TLS side (server mode: the client; client mode: the remote server)
   * @param plain the plain side
   * @param tlsIsRemote client mode: the TLS side is the connect side (for the close status)
   */
  constructor(tls: Duplex, plain: Duplex, timeouts: Timeouts, owner: RelayOwner, tlsIsRemote: boolean) {
    this.#tls = new Side(this, tls, true);
    this.#plain = new Side(this, plain, false);
    this.#tls.other = this.#plain;
    this.#plain.other = this.#tls;
    this.#owner = owner;
    this.#timeouts = timeouts;
    this.#tlsIsRemote = tlsIsRemote;
    this.#timer = setTimeout(onIdleExpired, Math.max(0, timeouts.idle) * 1000, this);
    attach(this.#tls);
    attach(this.#plain);
  }

  /** Bytes written to the TLS side (stunnel's "sent to TLS"). */
  get sentToTls(): number {
    return this.#tls.written;
  }

  /** Bytes written to the plain side (stunnel's "sent to socket"). */
  get sentToSocket(): number {
    return this.#plain.written;
  }

  /** Bytes held in Node's buffers for this tunnel (written but not yet sent, read but not yet relayed). */
  get bufferedBytes(): number {
    let total = 0;
    for (const side of [this.#tls, this.#plain]) total += side.stream.writableLength + side.stream.readableLength;
    return total;
  }

  /**
   * Activity: pushes the deadline back (no allocation: Timeout.refresh). Also while
   * half-closed: stunnel re-arms TIMEOUTclose at every event, so a direction still
   * flowing after the other ended is never cut (a fixed deadline from the first EOF
   * truncated echoes that took longer than TIMEOUTclose to come back).
   */
  touch(): void {
    this.#expiring = false;
    if (this.#held) {
      this.#held = false;
      this.#arm(this.#timeouts.close);
    } else {
      this.#timer?.refresh();
    }
  }

  /** The peer of `side` finished sending: pass the EOF on. */
  ended(side: Side): void {
    side.readEnded = true;
    if (this.#owner.wants(6)) this.#owner.say(6, side.isTls ? 'TLS closed (SSL_read)' : 'Read socket closed (readsocket)');
    this.#startClosing();
    if (!side.other.gone) side.other.stream.end();
    else this.#checkDone();
  }

  /** Our EOF to `side` was flushed. */
  flushed(side: Side): void {
    side.writeFinished = true;
    if (side.isTls) {
      if (this.#owner.wants(6)) this.#owner.say(6, 'SSL_shutdown successfully sent close_notify alert');
    } else if (this.#owner.wants(7)) {
      this.#owner.say(7, 'Sent socket write shutdown');
    }
    this.#checkDone();
  }

  /** An error on `side`'s stream (routed here by the tunnel, which owns the error listeners). */
  failed(stream: Duplex, err: Error): void {
    if (this.#finished) return;
    const side = stream === this.#tls.stream ? this.#tls : this.#plain;
    if (isPeerDisconnect(err)) {
      if (this.#owner.wants(6)) this.#owner.say(6, `${side.isTls ? 'TLS fd' : 'socket fd'}: ${errnoText(err)}`);
      this.#peerGone(side);
      return;
    }
    if (side.isTls && alertExchanged(err)) {
      this.#owner.say(3, `SSL_read: ${tlsErrorText(err)}`);
      this.#finish(tlsToldStatus(this.#tlsIsRemote));
      return;
    }
    const operation = side.isTls ? 'SSL_read' : 'readsocket';
    const errno = (err as NodeJS.ErrnoException).errno !== undefined;
    this.#owner.say(3, `${operation}: ${errno ? errnoText(err) : err.message.trim()}`);
    this.#finish('reset');
  }

  /** `side`'s stream closed; without its EOF and ours both done, its peer went away. */
  closed(stream: Duplex): void {
    if (this.#finished) return;
    const side = stream === this.#tls.stream ? this.#tls : this.#plain;
    if (side.readEnded && side.writeFinished) return;
    this.#peerGone(side);
  }

  /** Ends the relay from outside (the tunnel ended): no further callbacks. */
  stop(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    detach(this.#tls);
    detach(this.#plain);
  }

  /**
   * The timer fired. On a starved event loop, timers run before the I/O that piled up
   * meanwhile, while stunnel's poll reports ready sockets before a timeout: so the verdict
   * waits for the poll of this loop turn (setImmediate runs right after it). Data read
   * there re-arms the timer (touch) and the expiry is void.
   */
  timerFired(): void {
    this.#expiring = true;
    setImmediate(onExpiryDue, this);
  }

  idleExpired(): void {
    if (!this.#expiring || this.#finished) return;
    this.#expiring = false;
    if (this.#closing && this.bufferedBytes === 0) {
      this.#owner.say(3, 'transfer: s_poll_wait: TIMEOUTclose exceeded: closing');
      this.#finish('closed');
    } else if (this.#closing && !this.#held) {
      // Bytes accepted from one peer still wait for the other (a slow reader): closing now
      // would destroy them. stunnel waits with TIMEOUTidle while its buffers hold data;
      // so do we, for the rest of TIMEOUTidle counted from the last activity.
      this.#held = true;
      this.#arm(this.#timeouts.idle - this.#timeouts.close);
    } else {
      if (this.#owner.wants(6)) this.#owner.say(6, 'transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset');
      this.#finish('reset');
    }
  }

  /**
   * The peer of `side` reset or dropped its socket. A TLS peer gone: nothing more can reach
   * it, the connection is over. A plain peer gone: the TLS peer still gets close_notify.
   */
  #peerGone(side: Side): void {
    if (side.gone) return;
    side.gone = true;
    if (side.isTls) {
      if (this.#owner.wants(6)) this.#owner.say(6, 'TLS socket closed (SSL_read)');
      this.#finish('closed');
      return;
    }
    if (this.#owner.wants(6)) this.#owner.say(6, 'writesocket: Socket is closed');
    this.#startClosing();
    const tls = side.other;
    if (tls.writeFinished) this.#checkDone();
    else if (!tls.stream.writableEnded) tls.stream.end();
  }

  #startClosing(): void {
    if (this.#closing || this.#finished) return;
    this.#closing = true;
    this.#arm(this.#timeouts.close);
  }

  #arm(seconds: number): void {
    if (this.#finished) return;
    this.#expiring = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(onIdleExpired, Math.max(0, seconds) * 1000, this);
  }

  /**
   * Closed when both EOFs were read and both of ours flushed; once the plain peer is gone,
   * as soon as the TLS peer has its close_notify.
   */
  #checkDone(): void {
    const tls = this.#tls;
    const plain = this.#plain;
    const done = plain.gone
      ? tls.writeFinished
      : tls.writeFinished && plain.writeFinished && tls.readEnded && plain.readEnded;
    if (done) this.#finish('closed');
  }

  #finish(status: CloseStatus): void {
    if (this.#finished) return;
    this.stop();
    this.#owner.relayDone(status);
  }
}

function attach(side: Side): void {
  const stream = side.stream;
  stream[SIDE] = side;
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('drain', onDrain);
  stream.on('finish', onFinish);
  if (!side.isTls) setReadSink(stream as Socket, onSharedView);
  // A peer may have sent its EOF before the relay started.
  if (stream.readableEnded) process.nextTick(onEnd.bind(stream));
  stream.resume();
}

function detach(side: Side): void {
  const stream = side.stream;
  stream.removeListener('data', onData);
  stream.removeListener('end', onEnd);
  stream.removeListener('drain', onDrain);
  stream.removeListener('finish', onFinish);
  if (!side.isTls) setReadSink(stream as Socket, undefined);
  stream[SIDE] = undefined;
}

/** Passes a chunk on; false when the other side's buffer is full (stop reading). */
function forward(side: Side, chunk: Buffer): boolean {
  const to = side.other;
  if (to.gone) return true;
  to.written += chunk.length;
  side.relay.touch();
  return to.stream.write(chunk);
}

function onData(this: RelayStream, chunk: Buffer): void {
  const side = this[SIDE];
  if (side !== undefined && !forward(side, chunk)) this.pause();
}

/** A read of a dialed plain socket, as a view of the shared buffer (engine/shared-read). */
function onSharedView(this: RelayStream, view: Buffer): boolean {
  const side = this[SIDE];
  // Not attached (cannot happen: detach removes the sink): the socket's own readable side keeps it.
  if (side === undefined) return this.push(Buffer.from(view));
  // Written at once, the view is consumed before write() returns; queued, it must outlive the buffer.
  const chunk = side.other.stream.writableLength === 0 ? view : Buffer.from(view);
  if (forward(side, chunk)) return true;
  this.pause();
  return false;
}

function onDrain(this: RelayStream): void {
  const side = this[SIDE];
  if (side === undefined) return;
  // A slow reader took what was held for it: progress, like a chunk read.
  side.relay.touch();
  side.other.stream.resume();
}

function onEnd(this: RelayStream): void {
  const side = this[SIDE];
  if (side && !side.readEnded) side.relay.ended(side);
}

function onFinish(this: RelayStream): void {
  const side = this[SIDE];
  if (side) side.relay.flushed(side);
}

function onIdleExpired(relay: Relay): void {
  relay.timerFired();
}

function onExpiryDue(relay: Relay): void {
  relay.idleExpired();
}
