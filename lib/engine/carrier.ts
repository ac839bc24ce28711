/**
 * @module engine/carrier
 * The TCP connection under a client-mode TLS socket that runs through an HTTP proxy
 * (`protocol = connect`), minus the early half-close.
 *
 * When the local client has sent everything, the tunnel ends its TLS side: Node's TLS
 * socket then writes close_notify AND shuts down the TCP write side at once. stunnel only
 * sends close_notify and keeps the TCP connection open until the far side has finished too.
 * A proxy that carries no half-close (tinyproxy closes both ways at the first FIN) would
 * otherwise drop what the server is still sending back. So the TLS socket is given this
 * stream instead of the TCP socket: bytes pass through unchanged, but its end only becomes
 * a FIN once the proxy has ended its own side.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

class HeldFinCarrier extends Duplex {
  readonly #socket: Socket;
  #wantsEnd = false;

  constructor(socket: Socket) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => {
      this.push(null);
      if (this.#wantsEnd) socket.end();
    });
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#socket.write(chunk, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    // close_notify has been written: the FIN waits for the far side's end.
    if (this.#socket.readableEnded) this.#socket.end();
    else this.#wantsEnd = true;
    done();
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.#socket.destroy();
    done(err);
  }
}

/** `socket` as a stream whose end is held back until the peer has ended (see the module comment). */
export function heldFinCarrier(socket: Socket): Duplex {
  return new HeldFinCarrier(socket);
}
