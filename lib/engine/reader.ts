/**
 * @module engine/reader
 * Bytes pulled from a stream as a parser asks for them, for the dialogues held before the
 * relay starts (the protocols' lines, a SOCKS request). When the parser is done, what it did
 * not consume goes back to the stream, for the TLS layer or the relay to read.
 */
import type { Duplex } from 'node:stream';

/** How many bytes of `buffered` the parser wants now (-1: not enough yet). May throw to refuse. */
export type Wanted = (buffered: Buffer) => number;

export class PullReader {
  #buffered: Buffer = Buffer.alloc(0);
  #ended = false;
  #waiting: (() => void) | null = null;

  constructor(readonly stream: Duplex) {
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    this.#wake();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wake();
  };

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
  }

  /** The first bytes `wanted` asks for, once they are there; `atEnd()` is thrown at the stream's end. */
  async pull(wanted: Wanted, atEnd: () => Error): Promise<Buffer> {
    for (;;) {
      const length = wanted(this.#buffered);
      if (length >= 0) {
        const bytes = this.#buffered.subarray(0, length);
        this.#buffered = this.#buffered.subarray(length);
        return bytes;
      }
      if (this.#ended) throw atEnd();
      await new Promise<void>((resolve) => { this.#waiting = resolve; });
    }
  }

  /** Stops reading; bytes not consumed go back to the stream, which stays paused until read again. */
  release(): void {
    this.stream.off('data', this.#onData);
    this.stream.off('end', this.#onEnd);
    this.stream.pause();
    if (this.#buffered.length > 0) this.stream.unshift(this.#buffered);
  }
}

/** Exactly `n` bytes. */
export function exactly(n: number): Wanted {
  return (buffered) => (buffered.length >= n ? n : -1);
}
