/**
 * @module tls/sessions
 * Session caches. Server side: Node keeps no internal session-id cache, it asks the
 * `server` object given to each TLSSocket through `newSession`/`resumeSession` events;
 * ServerSessionCache is that object (one per service, bounded by sessionCacheSize).
 * Client side: the last session per connect target (`host:port`), offered on the next connection.
 */
import { EventEmitter } from 'node:events';

/** A map that forgets its least recently stored entry beyond `capacity` (0 = unlimited). */
export class BoundedCache<V> {
  readonly #entries = new Map<string, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.capacity > 0 && this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}

export type ClientSessionCache = BoundedCache<Buffer>;

export class ServerSessionCache extends EventEmitter {
  readonly sessions: BoundedCache<Buffer>;

  constructor(capacity: number) {
    super();
    this.sessions = new BoundedCache<Buffer>(capacity);
    this.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
      this.sessions.set(id.toString('hex'), data);
      done();
    });
    this.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
      done(null, this.sessions.get(id.toString('hex')) ?? null);
    });
  }
}
