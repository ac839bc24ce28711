/**
 * @module tls/sessions
 * Session caches. Server side: Node keeps no internal session-id cache, it asks the
 * `server` object given to each TLSSocket through `newSession`/`resumeSession` events;
 * ServerSessionCache is that object (one per service, bounded by sessionCacheSize).
 * Client side: the last session per connect target (`host:port`), offered on the next connection.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ServiceConfig } from '../config/model';

/**
 * SESSION BINDING. A session (by id or by ticket) resumes only under the verification settings
 * it was made with: this digest of the service's name and every setting that decides a peer's
 * verdict (verify switches, check* names, the trusted certificates and revocation lists) goes
 * into the session-id context (OpenSSL refuses to resume a session of another context, ticket
 * or id) and into the workers' ticket keys. A reload that changes verification thus starts
 * every client over with a full handshake, judged by the new rules.
 * @param trusted the PEM certificates loaded from CAfile/CApath; @param crls the revocation lists.
 */
export function sessionBinding(service: ServiceConfig, trusted: readonly string[], crls: readonly (string | Buffer)[]): string {
  const tls = service.tls;
  const hash = createHash('sha256');
  const field = (value: string | Buffer) => {
    const bytes = Buffer.from(value);
    hash.update(`${bytes.length}:`).update(bytes);
  };
  field('stunnel-ts session binding v1');
  field(service.name);
  field(JSON.stringify([tls.verify, tls.checkHost, tls.checkIP, tls.checkEmail, service.redirect.length > 0]));
  for (const pem of trusted) field(pem);
  for (const crl of crls) field(crl);
  return hash.digest('hex');
}

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
