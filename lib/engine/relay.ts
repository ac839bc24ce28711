/**
 * @module engine/relay
 * Moves bytes both ways between the TLS side and the plain side of a tunnel.
 *
 *   both open ──EOF on one side──▶ half-closed ──EOF on the other──▶ closed
 *       │  (TIMEOUTidle)               │ (TIMEOUTclose)
 *       ▼                              ▼
 *     reset                          closed
 *
 * Backpressure: a side stops reading while the other side's write buffer is full
 * (write() returned false) and resumes on 'drain', so memory stays bounded whatever
 * the peers do. An EOF is passed on (TCP FIN ↔ TLS close_notify) while the other
 * direction keeps flowing. Errors end the tunnel with a reset.
 */
import type { Duplex } from 'node:stream';
import type { Timeouts } from '../config/model';
import { isPeerDisconnect, systemErrorText } from '../tls/syserror';
import type { LineSink } from '../tls/verify';

export type CloseStatus = 'closed' | 'reset';

/** One direction of the relay: reads `from`, writes `to`, counts what it wrote. */
class Direction {
  bytes = 0;
  ended = false;
  flushed = false;

  constructor(readonly from: Duplex, readonly to: Duplex, readonly relay: Relay) {}

  readonly onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    this.relay.touch();
    if (!this.to.write(chunk)) this.from.pause();
  };

  readonly onDrain = (): void => {
    this.from.resume();
  };

  readonly onEnd = (): void => {
    this.ended = true;
    this.relay.sourceEnded(this);
    this.to.end();
  };

  readonly onFinish = (): void => {
    this.flushed = true;
    this.relay.destinationFlushed(this);
  };
}

export class Relay {
  readonly #toSocket: Direction;
  readonly #toTls: Direction;
  readonly #timeouts: Timeouts;
  readonly #say: LineSink;
  readonly #done: (status: CloseStatus) => void;
  #timer: NodeJS.Timeout | null = null;
  #finished = false;

  /**
   * @param tls the TLS side (server mode: the client; client mode: the remote server)
   * @param plain the plain side
   * @param done called once with how the tunnel ended; the caller closes the sockets
   */
  constructor(tls: Duplex, plain: Duplex, timeouts: Timeouts, say: LineSink, done: (status: CloseStatus) => void) {
    this.#toSocket = new Direction(tls, plain, this);
    this.#toTls = new Direction(plain, tls, this);
    this.#timeouts = timeouts;
    this.#say = say;
    this.#done = done;
    for (const d of [this.#toSocket, this.#toTls]) {
      d.from.on('data', d.onData);
      d.from.on('end', d.onEnd);
      d.to.on('drain', d.onDrain);
      d.to.on('finish', d.onFinish);
      // A peer may have sent its EOF before the relay started (Node emits 'end' on an empty ended stream).
      if (d.from.readableEnded) process.nextTick(d.onEnd);
    }
    tls.on('error', this.#onTlsError);
    plain.on('error', this.#onPlainError);
    tls.on('close', this.#onTlsClose);
    plain.on('close', this.#onPlainClose);
    this.#arm(timeouts.idle, this.#idleExpired);
    tls.resume();
    plain.resume();
  }

  /** Bytes written to the TLS side (stunnel's "sent to TLS"). */
  get sentToTls(): number {
    return this.#toTls.bytes;
  }

  /** Bytes written to the plain side (stunnel's "sent to socket"). */
  get sentToSocket(): number {
    return this.#toSocket.bytes;
  }

  /** Activity: pushes the idle / close deadline back (no allocation: Timeout.refresh). */
  touch(): void {
    this.#timer?.refresh();
  }

  sourceEnded(direction: Direction): void {
    this.#say(6, direction === this.#toSocket ? 'TLS closed (SSL_read)' : 'Read socket closed (readsocket)');
    this.#arm(this.#timeouts.close, this.#closeExpired);
  }

  destinationFlushed(direction: Direction): void {
    this.#say(direction === this.#toTls ? 6 : 7, direction === this.#toTls
      ? 'SSL_shutdown successfully sent close_notify alert'
      : 'Sent socket write shutdown');
    if (this.#toSocket.flushed && this.#toTls.flushed) this.#finish('closed');
  }

  /** Ends the relay from outside (engine shutdown): no further callbacks. */
  stop(): void {
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #arm(seconds: number, onExpiry: () => void): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(onExpiry, Math.max(0, seconds) * 1000);
  }

  #idleExpired = (): void => {
    this.#say(6, 'transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset');
    this.#finish('reset');
  };

  #closeExpired = (): void => {
    this.#say(3, 'transfer: s_poll_wait: TIMEOUTclose exceeded: closing');
    this.#finish('closed');
  };

  #onTlsError = (err: Error): void => {
    this.#sideError('TLS fd', 'SSL_read', err);
  };

  #onPlainError = (err: Error): void => {
    this.#sideError('socket fd', 'readsocket', err);
  };

  #sideError(label: string, operation: string, err: Error): void {
    if (this.#finished) return;
    if (isPeerDisconnect(err)) this.#say(6, `${label}: ${systemErrorText(err)}`);
    else if ((err as NodeJS.ErrnoException).errno !== undefined) this.#say(3, `${operation}: ${systemErrorText(err)}`);
    else this.#say(3, `${operation}: ${err.message.trim()}`);
    this.#finish('reset');
  }

  /** A side that closes after its EOF was read and our writes to it were flushed closed cleanly. */
  #onTlsClose = (): void => {
    if (!(this.#toSocket.ended && this.#toTls.flushed)) this.#finish('reset');
  };

  #onPlainClose = (): void => {
    if (!(this.#toTls.ended && this.#toSocket.flushed)) this.#finish('reset');
  };

  #finish(status: CloseStatus): void {
    if (this.#finished) return;
    this.stop();
    this.#done(status);
  }
}
