/**
 * @module metrics/endpoint
 * The `metrics = [HOST:]PORT` listener (stunnel-ts extension): plain HTTP, bound by the
 * process layer before privileges are dropped, in the process that owns the daemon's life
 * (the single process, or the primary of `workers = N`).
 *
 *   GET /metrics  the Prometheus text format: this process's own series (reloads, draining,
 *                 prom-client's default process metrics) with the serving processes' series,
 *                 summed over the workers by prom-client's aggregation
 *   GET /healthz  200 `ok`; 503 `draining` once setDraining(true); 503 naming every service
 *                 that has no listening socket
 *   anything else 404
 *
 * A request costs its own connection only: headers are capped in size and time, bodies
 * are not read, a parse error answers 400 and closes that socket.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Address } from '../config/model';
import { addressText } from '../engine/address';
import { collectProcessMetrics } from './meter';

/** One registry's series as prom-client gives them (`getMetricsAsJSON`). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Where the serving processes' series come from: one list per process. */
export type MetricsSource = () => Promise<MetricsJson[]>;

const REQUEST_TIMEOUT_MS = 5000;
const MAX_HEADER_BYTES = 8192;
const MAX_CONNECTIONS = 64;
const TEXT = 'text/plain; charset=utf-8';

/** Services whose listening sockets add up to 0 over every process (the `stunnel_listeners` series). */
export function servicesWithoutListener(parts: readonly MetricsJson[]): string[] {
  const counts = new Map<string, number>();
  for (const part of parts) {
    for (const metric of part) {
      if (metric.name !== 'stunnel_listeners') continue;
      for (const v of metric.values) {
        const service = String(v.labels.service);
        counts.set(service, (counts.get(service) ?? 0) + v.value);
      }
    }
  }
  return [...counts].filter(([, n]) => n === 0).map(([service]) => service);
}

export class MetricsEndpoint {
  readonly registry = new Registry();
  readonly #server: Server;
  readonly #source: MetricsSource;
  readonly #reloads: Counter<'result'>;
  readonly #lastReload: Gauge;
  readonly #draining: Gauge;
  #isDraining = false;

  constructor(readonly address: Address & { kind: 'inet' }, source: MetricsSource) {
    this.#source = source;
    const registers = [this.registry];
    this.#reloads = new Counter({ name: 'stunnel_config_reloads_total', help: 'Configuration reloads (SIGHUP), by result', labelNames: ['result'], registers });
    this.#reloads.inc({ result: 'success' }, 0);
    this.#reloads.inc({ result: 'failure' }, 0);
    this.#lastReload = new Gauge({
      name: 'stunnel_config_last_reload_success_timestamp_seconds', help: 'When the running configuration was loaded (start or reload), Unix time', registers,
    });
    this.#lastReload.setToCurrentTime();
    this.#draining = new Gauge({ name: 'stunnel_draining', help: '1 while draining (health checks answer 503), else 0', registers });
    this.#draining.set(0);
    collectProcessMetrics(this.registry);
    this.#server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, this.#onRequest);
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.keepAliveTimeout = REQUEST_TIMEOUT_MS;
    this.#server.on('clientError', onClientError);
  }

  /** Binds; resolves with `127.0.0.1:43567` (the real port), rejects with the system error. */
  listen(): Promise<string> {
    const host = this.address.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port: this.address.port }, () => {
        this.#server.removeListener('error', reject);
        const info = this.#server.address();
        resolve(typeof info === 'object' && info !== null ? addressText(info.address, info.port) : this.address.text);
      });
    });
  }

  /** The drain (see the fleet's `TIMEOUTdrain`): /healthz answers 503 `draining`, `stunnel_draining` is 1. */
  setDraining(on: boolean): void {
    this.#isDraining = on;
    this.#draining.set(on ? 1 : 0);
  }

  get draining(): boolean {
    return this.#isDraining;
  }

  /** A SIGHUP reload ended: counted, and its time kept when it succeeded. */
  reloaded(success: boolean): void {
    this.#reloads.inc({ result: success ? 'success' : 'failure' });
    if (success) this.#lastReload.setToCurrentTime();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** The whole scrape: this process's registry and every serving process's, summed. */
  async metricsText(): Promise<string> {
    const parts = await this.#source();
    const own = await this.registry.getMetricsAsJSON() as MetricsJson;
    return AggregatorRegistry.aggregate([own, ...parts]).metrics();
  }

  /** The health answer: [status, body]. */
  async health(): Promise<[number, string]> {
    if (this.#isDraining) return [503, 'draining\n'];
    const missing = servicesWithoutListener(await this.#source());
    if (missing.length > 0) return [503, `no listener: ${missing.map((s) => `[${s}]`).join(' ')}\n`];
    return [200, 'ok\n'];
  }

  readonly #onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '').split('?')[0];
    const get = request.method === 'GET' || request.method === 'HEAD';
    if (get && path === '/metrics') {
      answerWith(response, this.metricsText().then((text) => [200, text] as [number, string]), AggregatorRegistry.PROMETHEUS_CONTENT_TYPE);
    } else if (get && path === '/healthz') {
      answerWith(response, this.health(), TEXT);
    } else {
      answer(response, 404, 'not found\n', TEXT);
    }
    // A body, if any, is not wanted: drop it so it costs nothing.
    request.resume();
  };
}

function answer(response: ServerResponse, status: number, body: string, type: string): void {
  if (response.writableEnded || response.destroyed) return;
  response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

function answerWith(response: ServerResponse, result: Promise<[number, string]>, type: string): void {
  result.then(
    ([status, body]) => answer(response, status, body, type),
    (error: Error) => answer(response, 503, `unavailable: ${error.message}\n`, TEXT),
  );
}

/** A request Node could not parse (or too large, or too slow): 400 on that socket only. */
function onClientError(_error: Error, socket: Socket): void {
  if (!socket.writable) return void socket.destroy();
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}
