/**
 * @module engine/teardown
 * Closing a tunnel's sockets: gracefully, or with a TCP RST (`reset = yes`, SO_LINGER 0).
 *
 * A TLSSocket made from an accepted net.Socket shares that socket's TCP handle: the
 * raw socket must never be destroyed on its own while wrapped (Node crashes). To send
 * a RST we ask the TCP handle to reset (what net.Socket.resetAndDestroy does) and
 * destroy the TLS socket once it has.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { resetAfterWrap } from '../node-internals';

function noop(): void {}

/** Ends `stream` now; with `rst` and a TCP socket underneath, with a reset. Idempotent. */
export function closeStream(stream: Duplex, raw: Socket | null, rst: boolean): void {
  // The tunnel's own listeners stay attached; a stream nobody listens to must not throw.
  if (stream.listenerCount('error') === 0) stream.on('error', noop);
  if (stream.destroyed) return;
  if (rst && raw) {
    if (raw === stream) {
      if (!raw.destroyed && raw.readyState !== 'closed') {
        try {
          raw.resetAndDestroy();
          return;
        } catch {
          // not a TCP handle (pipe, socket not connected): plain destroy below
        }
      }
    } else {
      if (resetAfterWrap(raw, () => stream.destroy())) return;
    }
  }
  stream.destroy();
}
