/**
 * @module tls/sessions
 * Session caches. Server side: Node keeps no internal session-id cache, it asks the
 * `server` object given to each TLSSocket through `newSession`/`resumeSession` events;
 * ServerSessionCache is that object (one per service and process, bounded by sessionCacheSize).
 * It keeps only sessions a client can resume by id (TLS 1.2 and older): OpenSSL also hands
 * over the sessions of TLS 1.3 tickets (two per handshake), which a client resumes by ticket
 * only. With `workers`, each process's cache also holds the sessions the others made
 * (process/sessionshare relays them: `onStored` out, `adopt` in).
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

  /** Oldest first. */
  entries(): IterableIterator<[string, V]> {
    return this.#entries.entries();
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

const TLS1_3_VERSION = 0x0304;

/**
 * The protocol version (0x0303: TLS 1.2) of a session as OpenSSL serializes it
 * (i2d_SSL_SESSION: SEQUENCE { INTEGER format version, INTEGER protocol version, … }),
 * or null when `der` does not start that way.
 */
export function sessionProtocol(der: Buffer): number | null {
  if (der.length < 2 || der[0] !== 0x30) return null;
  let at = 2 + (der[1] & 0x80 ? der[1] & 0x7f : 0);
  for (let field = 0; field < 2; field++) {
    if (at + 2 > der.length || der[at] !== 0x02) return null;
    const length = der[at + 1];
    if (length < 1 || length > 4 || at + 2 + length > der.length) return null;
    if (field === 1) return der.readUIntBE(at + 2, length);
    at += 2 + length;
  }
  return null;
}

/** True for a session a client can resume by its id: one of TLS 1.2 or older. */
export function resumableById(der: Buffer): boolean {
  const version = sessionProtocol(der);
  return version !== null && version < TLS1_3_VERSION;
}

export class ServerSessionCache extends EventEmitter {
  readonly sessions: BoundedCache<Buffer>;
  /** Told of every session this process stored (not of adopted ones): the worker sends it to the primary. */
  onStored: ((id: Buffer, data: Buffer) => void) | null = null;

  constructor(capacity: number) {
    super();
    this.sessions = new BoundedCache<Buffer>(capacity);
    this.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
      if (resumableById(data)) {
        this.sessions.set(id.toString('hex'), data);
        this.onStored?.(id, data);
      }
      done();
    });
    this.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
      done(null, this.sessions.get(id.toString('hex')) ?? null);
    });
  }

  /** Stores a session another process made (another worker's, relayed by the primary). */
  adopt(id: Buffer, data: Buffer): void {
    this.sessions.set(id.toString('hex'), data);
  }
}
