/**
 * @module engine/reader
 * Bytes pulled from a stream as a parser asks for them, for the dialogues held before the
 * relay starts (the protocols' lines, a SOCKS request). When the parser is done, what it did
 * not consume goes back to the stream, for the TLS layer or the relay to read.
 *
 * The stream is read only while a pull waits for bytes: it is paused after every chunk and
 * whenever no pull is pending (a SOCKS name lookup, a backend being dialled), so a peer that
 * streams meanwhile fills the kernel's buffers and is held by TCP flow control, not our memory.
 * What the reader holds is thus at most what the parser waits for plus one chunk; every parser
 * (`Wanted`) caps what it waits for and throws past its cap (a line, a SOCKS field). Chunks are
 * appended into a buffer grown by doubling, so holding n bytes costs O(n) copies, not O(n²).
 */
import type { Duplex } from 'node:stream';

/** How many bytes of `buffered` the parser wants now (-1: not enough yet). May throw to refuse. */
export type Wanted = (buffered: Buffer) => number;

export class PullReader {
  /** Bytes received and not consumed: `#store[#start, #end)`. Never written below `#end`. */
  #store: Buffer = Buffer.alloc(0);
  #start = 0;
  #end = 0;
  #ended = false;
  #waiting: (() => void) | null = null;

  constructor(readonly stream: Duplex) {
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.pause();
  }

  /** Bytes held, not yet consumed by the parser. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  readonly #onData = (chunk: Buffer): void => {
    this.stream.pause();
    this.#append(chunk);
    this.#wake();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wake();
  };

  #append(chunk: Buffer): void {
    const held = this.buffered;
    if (held === 0) {
      this.#store = chunk;
      this.#start = 0;
      this.#end = chunk.length;
      return;
    }
    if (this.#end + chunk.length > this.#store.length) {
      // A new store (bytes already handed out keep theirs): room for twice what is held.
      const store = Buffer.allocUnsafe(Math.max(2 * (held + chunk.length), 1024));
      this.#store.copy(store, 0, this.#start, this.#end);
      this.#store = store;
      this.#start = 0;
      this.#end = held;
    }
    chunk.copy(this.#store, this.#end);
    this.#end += chunk.length;
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
  }

  /** The first bytes `wanted` asks for, once they are there; `atEnd()` is thrown at the stream's end. */
  async pull(wanted: Wanted, atEnd: () => Error): Promise<Buffer> {
    for (;;) {
      const held = this.#store.subarray(this.#start, this.#end);
      const length = wanted(held);
      if (length >= 0) {
        this.#start += length;
        return held.subarray(0, length);
      }
      if (this.#ended) throw atEnd();
      const arrived = new Promise<void>((resolve) => { this.#waiting = resolve; });
      this.stream.resume();
      await arrived;
    }
  }

  /** Stops reading; bytes not consumed go back to the stream, which stays paused until read again. */
  release(): void {
    this.stream.off('data', this.#onData);
    this.stream.off('end', this.#onEnd);
    this.stream.pause();
    if (this.buffered > 0) this.stream.unshift(this.#store.subarray(this.#start, this.#end));
  }
}

/** Exactly `n` bytes. */
export function exactly(n: number): Wanted {
  return (buffered) => (buffered.length >= n ? n : -1);
}
