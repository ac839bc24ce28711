/**
 * @module engine/shared-read
 * Plain sockets the engine dials read into ONE process-wide buffer (net's public `onread`
 * option) instead of a fresh ArrayBuffer per read.
 *
 * Why: a bulk download through a server-mode tunnel is one 64 KiB read from the backend after
 * another. Each read Node makes on its own allocates a new ArrayBuffer, which V8 counts as
 * external memory; at hundreds of MB/s that count grows faster than scavenges free it, and V8
 * answers with full mark-compacts several times a second (bench bulk: ~40 in 8 s instead of 1,
 * a third more CPU per GB). Whether it happens depends on the heap's size (loading pkijs for
 * OCSP tipped it), so the cure is to stop the churn, not to tune the heap.
 *
 *   no sink (dialing, protocol dialogues)  each read copied and pushed: an ordinary socket
 *   sink set (the relay)                   the sink gets a VIEW of the shared buffer, valid only
 *                                          during the call; it returns false to stop reading
 *
 * A sink must copy what it keeps past the call. Reads go to the readable side while it still
 * holds bytes pushed earlier, so the order of bytes never changes.
 */
import type { OnReadOpts, Socket } from 'node:net';

const SINK = Symbol('shared read sink');

/** Takes a view of the shared buffer; returns false to stop reading. */
export type ReadSink = (this: Socket, view: Buffer) => boolean;
type SharedReadSocket = Socket & { [SINK]?: ReadSink };

/** The size Node itself asks libuv for. */
const SHARED = Buffer.allocUnsafe(64 * 1024);

function onSharedRead(this: SharedReadSocket, nread: number, buffer: Uint8Array): boolean {
  const view = Buffer.from(buffer.buffer, buffer.byteOffset, nread);
  const sink = this[SINK];
  if (sink === undefined || this.readableLength > 0) return this.push(Buffer.from(view));
  return sink.call(this, view);
}

/** The `onread` option for net.connect. */
export const SHARED_READ: OnReadOpts = { buffer: SHARED, callback: onSharedRead };

/** Routes the socket's reads to `sink` (undefined: back to its readable side). No effect on other sockets. */
export function setReadSink(socket: Socket, sink: ReadSink | undefined): void {
  (socket as SharedReadSocket)[SINK] = sink;
}
