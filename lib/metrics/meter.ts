/**
 * @module metrics/meter
 * The engine's meter on prom-client: the `stunnel_*` series one process counts for its
 * connections (a single process, or each worker of `workers = N`), in a registry of its
 * own. Counters move at events the tunnel already has (engine/meter); gauges that describe
 * state (listeners, certificates) are read when scraped or set on (re)configuration.
 *
 * With workers the primary sums the workers' registries (prom-client's aggregation): every
 * series sums, except the certificate dates, which are the same in every worker (`min`).
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ServiceConfig } from '../config/model';
import type { HandshakeFailure, TunnelMeter } from '../engine/meter';
import { subjectText } from '../tls/verify';

/**
 * prom-client's default process series (open and max fds, memory, CPU, event-loop lag…),
 * less its three `nodejs_active_*_total` gauges: a gauge named `_total` is refused by
 * `promtool check metrics`, and `nodejs_active_handles` / `_requests` / `_resources` say the same.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
}

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The certificate a section serves (its first PEM block), or null when there is none or it cannot be read. */
function servedCertificate(service: ServiceConfig): X509Certificate | null {
  if (service.tls.cert === null) return null;
  try {
    return new X509Certificate(readFileSync(service.tls.cert));
  } catch {
    return null;
  }
}

export class PromMeter implements TunnelMeter {
  readonly registry = new Registry();
  #listeners: () => ReadonlyMap<string, number> = () => new Map();
  readonly #accepted: Counter<'service'>;
  readonly #active: Gauge<'service'>;
  readonly #closed: Counter<'service' | 'how'>;
  readonly #handshakeFailures: Counter<'service' | 'reason'>;
  readonly #handshakeSeconds: Histogram<'service'>;
  readonly #resumed: Counter<'service'>;
  readonly #backendFailures: Counter<'service'>;
  readonly #backendSeconds: Histogram;
  readonly #bytes: Counter<'service' | 'direction'>;
  readonly #clientsAllowed: Gauge;
  readonly #fdWall: Counter;
  readonly #notAfter: Gauge<'service' | 'subject'>;

  /** `processMetrics`: prom-client's default process series (false where another registry has them). */
  constructor({ processMetrics }: { readonly processMetrics: boolean }) {
    const registers = [this.registry];
    this.#accepted = new Counter({ name: 'stunnel_connections_accepted_total', help: 'Connections accepted', labelNames: ['service'], registers });
    this.#active = new Gauge({ name: 'stunnel_connections_active', help: 'Connections being served', labelNames: ['service'], registers });
    this.#closed = new Counter({
      name: 'stunnel_connections_closed_total', help: 'Connections ended, by how (closed or reset)', labelNames: ['service', 'how'], registers,
    });
    this.#handshakeFailures = new Counter({
      name: 'stunnel_handshake_failures_total', help: 'TLS handshakes that failed, by reason (protocol, verify, timeout, eof, other)',
      labelNames: ['service', 'reason'], registers,
    });
    this.#handshakeSeconds = new Histogram({
      name: 'stunnel_handshake_seconds', help: 'Duration of successful TLS handshakes', labelNames: ['service'], buckets: SECONDS_BUCKETS, registers,
    });
    this.#resumed = new Counter({ name: 'stunnel_sessions_resumed_total', help: 'TLS handshakes that resumed a session', labelNames: ['service'], registers });
    this.#backendFailures = new Counter({
      name: 'stunnel_backend_connect_failures_total', help: 'Connections for which no connect target answered', labelNames: ['service'], registers,
    });
    this.#backendSeconds = new Histogram({
      name: 'stunnel_backend_connect_seconds', help: 'Time to connect to the backend (connect targets tried)', buckets: SECONDS_BUCKETS, registers,
    });
    this.#bytes = new Counter({
      name: 'stunnel_bytes_total', help: 'Bytes relayed by ended connections, by direction (to_tls, to_socket)', labelNames: ['service', 'direction'], registers,
    });
    this.#clientsAllowed = new Gauge({ name: 'stunnel_clients_allowed', help: 'Connections served at once before new ones are refused', registers });
    this.#fdWall = new Counter({ name: 'stunnel_fd_wall_total', help: 'Times the descriptor table filled up (accepting suspended)', registers });
    this.#notAfter = new Gauge({
      name: 'stunnel_certificate_not_after_seconds', help: 'Expiry (notAfter, Unix time) of every certificate served',
      labelNames: ['service', 'subject'], aggregator: 'min', registers,
    });
    const listeners = () => this.#listeners();
    new Gauge({
      name: 'stunnel_listeners', help: 'Listening sockets per service (0: the service accepts nothing)', labelNames: ['service'], registers,
      collect() {
        this.reset();
        for (const [service, count] of listeners()) this.set({ service }, count);
      },
    });
    if (processMetrics) collectProcessMetrics(this.registry);
  }

  accepted(service: string): void {
    this.#accepted.inc({ service });
    this.#active.inc({ service });
  }

  ended(service: string): void {
    this.#active.dec({ service });
  }

  handshakeDone(service: string, seconds: number, resumed: boolean): void {
    this.#handshakeSeconds.observe({ service }, seconds);
    if (resumed) this.#resumed.inc({ service });
  }

  handshakeFailed(service: string, reason: HandshakeFailure): void {
    this.#handshakeFailures.inc({ service, reason });
  }

  backendConnected(seconds: number): void {
    this.#backendSeconds.observe(seconds);
  }

  backendFailed(service: string, seconds: number): void {
    this.#backendFailures.inc({ service });
    this.#backendSeconds.observe(seconds);
  }

  closed(service: string, reset: boolean, sentToTls: number, sentToSocket: number): void {
    this.#closed.inc({ service, how: reset ? 'reset' : 'closed' });
    if (sentToTls > 0) this.#bytes.inc({ service, direction: 'to_tls' }, sentToTls);
    if (sentToSocket > 0) this.#bytes.inc({ service, direction: 'to_socket' }, sentToSocket);
  }

  fdWall(): void {
    this.#fdWall.inc();
  }

  configure(clientsAllowed: number, services: readonly ServiceConfig[], listeners: () => ReadonlyMap<string, number>): void {
    this.#clientsAllowed.set(clientsAllowed);
    this.#listeners = listeners;
    this.#notAfter.reset();
    for (const service of services) {
      const cert = servedCertificate(service);
      if (cert) this.#notAfter.set({ service: service.name, subject: subjectText(cert) }, Math.floor(Date.parse(cert.validTo) / 1000));
    }
  }
}
