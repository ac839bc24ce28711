/**
 * @module process/sessionshare
 * Session-id resumption that works on every worker of `workers = N`. A TLS 1.2 client that
 * resumes by session id (no ticket: `-no_ticket`, `options = NO_TICKET`, or a client without
 * ticket support) comes back to whichever worker the kernel picks, so each worker must know the
 * sessions the others made. (Tickets already resume anywhere: process/ticketkeys.)
 *
 *   worker A: full handshake → its cache stores the session (tls/sessions) → `sessions` event
 *   primary:  keeps a copy per service (bounded by the service's sessionCacheSize, as the
 *             workers' caches) → `sessions` command to every other serving worker
 *   worker B: adopts it into the same service's cache
 *   new worker (a replacement): gets the primary's whole copy, oldest first, when it is ready
 *
 * A ClientHello is answered from the worker's own cache, with no round trip (Node asks for
 * every ClientHello that carries a session id and no ticket: every TLS 1.3 client's random
 * legacy id too). Only full handshakes that make an id-resumable session cost anything (TLS 1.3
 * sessions are not shared: tls/sessions keeps none; nor are those of clients that take a
 * ticket, which have no id). Each message wakes the process it goes to, which costs more than
 * reading it, so sessions travel in batches (Batches): those a worker makes in one event-loop
 * turn go up in one message, and the primary relays what it got in one turn in one message per
 * worker; under load a message carries several sessions, idle nothing waits.
 *
 * A reload starts every cache empty, the primary's copy included, as the workers' caches are
 * rebuilt with the contexts; a session whose binding no longer matches (tls/sessions
 * `sessionBinding`, the session-id context) would not resume anyway: OpenSSL treats it as a miss.
 *
 * Trust: the primary checks each event's shape (process/messages) and that it names a service
 * with a session cache; it does not look inside the session. A compromised worker could thus
 * plant sessions the others resume (any master secret, any client certificate): it gains
 * nothing new, as it already holds the shared ticket secret, with which it can mint tickets
 * carrying the same sessions.
 */
import type { Config } from '../config/model';
import type { Prepared } from '../engine/engine';
import { BoundedCache, type ServerSessionCache } from '../tls/sessions';
import { MAX_SESSION_BATCH, type SharedSession } from './messages';

/** Collects sessions and hands them to `deliver` once per event-loop turn, at most MAX_SESSION_BATCH at a time. */
export class Batches {
  #pending: SharedSession[] = [];
  #scheduled = false;

  constructor(readonly deliver: (list: readonly SharedSession[]) => void) {}

  add(session: SharedSession): void {
    this.#pending.push(session);
    if (this.#pending.length >= MAX_SESSION_BATCH) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#onTurnEnd);
    }
  }

  readonly #onTurnEnd = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#pending.length === 0) return;
    const list = this.#pending;
    this.#pending = [];
    this.deliver(list);
  }
}

/** The server-side caches of `prepared`, by service name. */
function cachesOf(prepared: Prepared): Map<string, ServerSessionCache> {
  const caches = new Map<string, ServerSessionCache>();
  for (const { config, tls } of prepared.services.values()) {
    if (tls.serverSessions !== null && !caches.has(config.name)) caches.set(config.name, tls.serverSessions);
  }
  return caches;
}

/** Worker: every session the services of `prepared` store from now on goes to `outbox` (for the primary). */
export function offerSessions(prepared: Prepared, outbox: Batches): void {
  for (const [service, cache] of cachesOf(prepared)) {
    cache.onStored = (id, data) => outbox.add({ service, id: id.toString('hex'), data: data.toString('base64') });
  }
}

/** Worker: stores sessions relayed by the primary in their services' caches (a service it lacks: dropped, e.g. just reloaded away). */
export function adoptSessions(prepared: Prepared, list: readonly SharedSession[]): void {
  const caches = cachesOf(prepared);
  for (const session of list) {
    caches.get(session.service)?.adopt(Buffer.from(session.id, 'hex'), Buffer.from(session.data, 'base64'));
  }
}

/** Primary: its copy of the workers' sessions, per service that keeps a session cache. */
export class SessionCopies {
  /** Service name → session id (hex) → session (base64), as the workers sent them. */
  readonly #services = new Map<string, BoundedCache<string>>();

  /** For `config`'s server services with sessionResume on; none without a configuration. */
  constructor(config: Config | null) {
    for (const service of config?.services ?? []) {
      if (service.client || !service.tls.sessionResume || this.#services.has(service.name)) continue;
      this.#services.set(service.name, new BoundedCache<string>(service.tls.sessionCacheSize));
    }
  }

  /** Keeps a worker's session; false when its service keeps no session cache (then it is dropped). */
  store(session: SharedSession): boolean {
    const cache = this.#services.get(session.service);
    cache?.set(session.id, session.data);
    return cache !== undefined;
  }

  /** Every session kept, oldest first (per service): what a new worker is given. */
  *all(): Generator<SharedSession> {
    for (const [service, cache] of this.#services) {
      for (const [id, data] of cache.entries()) yield { service, id, data };
    }
  }
}
