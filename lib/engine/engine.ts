/**
 * @module engine/engine
 * The tunnel engine the process layer drives: prepare (build every TLS context) →
 * start (bind) → reload (swap) → close. It receives the Config and a LogWriter,
 * reads only the files the TLS settings name, and reports news upward as events:
 *   'fdWall'  accepting failed for lack of descriptors (EMFILE/ENFILE)
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Config, LogLevel, ServiceConfig } from '../config/model';
import { StartupError } from '../errors';
import type { LogWriter } from '../log';
import { applySocketOptions } from '../net/sockopts';
import { buildServiceTls, ContextError, type ContextNotice } from '../tls/context';
import { systemErrorText } from '../tls/syserror';
import { peerText } from './address';
import { ConnectionIds } from './ids';
import { clientsAllowed, descriptorLimit } from './limits';
import { Listener } from './listener';
import type { RuntimeService } from './service';
import { Tunnel, type TunnelHost } from './tunnel';

export interface ActiveConnection {
  readonly service: string;
  readonly id: string;
  readonly sentToTls: number;
  readonly sentToSocket: number;
}

/** A configuration whose TLS contexts are built (keys read, as root), ready to bind. */
export interface Prepared {
  readonly config: Config;
  /** Every service (inetd included) with its TLS side, keyed by its configuration object. */
  readonly services: ReadonlyMap<ServiceConfig, RuntimeService>;
}

/** How long accepting pauses after the descriptor table filled up. */
const FD_WALL_PAUSE_MS = 1000;

export class Engine extends EventEmitter implements TunnelHost {
  /** Id of main-thread lines: `ui` in the foreground, the process layer sets `main` after daemonizing. */
  mainId = 'ui';
  readonly #ids = new ConnectionIds();
  readonly #tunnels = new Set<Tunnel>();
  #listeners: Listener[] = [];
  #current: Prepared | null = null;
  readonly #clientsAllowed = clientsAllowed(descriptorLimit());
  #suspendedUntil = 0;

  constructor(readonly log: LogWriter) {
    super();
  }

  /** How many connections run at once before new ones are refused. */
  get clientsAllowed(): number {
    return this.#clientsAllowed;
  }

  /** Builds every service's secure context; throws StartupError with stunnel's text. */
  prepare(config: Config): Prepared {
    const services = new Map<ServiceConfig, RuntimeService>();
    const notices: ContextNotice[] = [];
    const all = config.inetd ? [...config.services, config.inetd] : config.services;
    for (const service of all) {
      try {
        services.set(service, this.#runtime(service, notices));
      } finally {
        this.#flushNotices(config, notices);
        notices.length = 0;
      }
    }
    for (const runtime of services.values()) {
      const primaryName = runtime.config.sniPrimary;
      if (primaryName === null) continue;
      const primary = [...services.values()].find((s) => s.config.name === primaryName && s.config.sniPrimary === null);
      if (!primary) throw new StartupError([`Service [${runtime.config.name}]: SNI section name not found`]);
      primary.secondaries.push(runtime);
    }
    return { config, services };
  }

  /** Binds every accept address; logs `Service [x] (FD=n) bound to A:P`; rejects if a service binds none. */
  async start(prepared: Prepared): Promise<void> {
    this.#current = prepared;
    this.#main(7, `Clients allowed=${this.#clientsAllowed}`);
    const { listeners, failures } = await this.#bindAll(prepared, new Map());
    if (failures.length > 0) {
      await Promise.all(listeners.map((l) => l.close()));
      throw new StartupError(failures);
    }
    this.#listeners = listeners;
  }

  /**
   * Swaps to a new configuration. Listeners whose address is unchanged stay open and
   * serve the new settings; new addresses are bound before removed ones close; live
   * tunnels keep the settings they started with. On failure the old state stays.
   */
  async reload(prepared: Prepared): Promise<void> {
    const reusable = new Map(this.#listeners.map((l) => [l.key, l]));
    const previous = new Map(this.#listeners.map((l) => [l, l.service]));
    const { listeners, failures } = await this.#bindAll(prepared, reusable);
    if (failures.length > 0) {
      await Promise.all(listeners.filter((l) => !previous.has(l)).map((l) => l.close()));
      for (const [listener, service] of previous) listener.service = service;
      throw new StartupError(failures);
    }
    const kept = new Set(listeners);
    const removed = this.#listeners.filter((l) => !kept.has(l));
    this.#listeners = listeners;
    this.#current = prepared;
    await Promise.all(removed.map((l) => l.close()));
  }

  /** Serves one connection that is already open (inetd mode on stdin/stdout, `-fd`). Resolves when it ends. */
  async serveOne(service: ServiceConfig, client: Duplex): Promise<void> {
    const runtime = this.#current?.services.get(service) ?? this.#runtime(service, []);
    const tunnel = new Tunnel(this, runtime, this.#ids.next(service), client);
    this.#tunnels.add(tunnel);
    await tunnel.run();
    await tunnel.finished;
  }

  activeConnections(): ActiveConnection[] {
    return [...this.#tunnels].map((t) => ({
      service: t.service.config.name, id: t.id, sentToTls: t.sentToTls, sentToSocket: t.sentToSocket,
    }));
  }

  /** Stops accepting and drops every tunnel (as stunnel on TERM). */
  async close(): Promise<void> {
    const listeners = this.#listeners;
    this.#listeners = [];
    const closing = listeners.map((l) => l.close());
    for (const tunnel of [...this.#tunnels]) tunnel.kill();
    await Promise.all(closing);
  }

  /** TunnelHost: a tunnel has ended. */
  forget(tunnel: Tunnel): void {
    this.#tunnels.delete(tunnel);
  }

  /** One service with its TLS side built; StartupError with stunnel's lines when that fails. */
  #runtime(service: ServiceConfig, notices: ContextNotice[]): RuntimeService {
    try {
      return { config: service, tls: buildServiceTls(service, notices), secondaries: [], rrNext: 0 };
    } catch (err) {
      if (err instanceof ContextError) throw new StartupError(err.messages);
      throw err;
    }
  }

  #main(level: LogLevel, text: string): void {
    const limit = this.#current?.config.global.debugLevel ?? 7;
    if (level <= limit) this.log.write(level, this.mainId, text);
  }

  #flushNotices(config: Config, notices: readonly ContextNotice[]): void {
    for (const n of notices) {
      if (n.level <= config.global.debugLevel) this.log.write(n.level, this.mainId, n.text);
    }
  }

  /** Binds every accept address of every service, reusing listeners from `reusable` by address. */
  async #bindAll(prepared: Prepared, reusable: Map<string, Listener>): Promise<{ listeners: Listener[]; failures: string[] }> {
    const listeners: Listener[] = [];
    const failures: string[] = [];
    for (const runtime of prepared.services.values()) {
      const config = runtime.config;
      if (config === prepared.config.inetd || config.accept.length === 0) continue;
      let bound = 0;
      const bindErrors: string[] = [];
      for (const address of config.accept) {
        this.#main(7, `Binding service [${config.name}]`);
        const fresh = new Listener(address, runtime, this.#onConnection);
        const old = reusable.get(fresh.key);
        if (old) {
          reusable.delete(fresh.key);
          old.service = runtime;
          listeners.push(old);
          bound++;
          this.#main(6, `Service [${config.name}] (FD=${old.fd}) bound to ${old.boundAddress}`);
          continue;
        }
        try {
          await fresh.listen();
        } catch (err) {
          const line = `Binding service [${config.name}] to ${address.text}: ${systemErrorText(err)}`;
          this.#main(5, line);
          bindErrors.push(line);
          continue;
        }
        fresh.server.on('error', this.#onAcceptError);
        listeners.push(fresh);
        bound++;
        this.#main(6, `Service [${config.name}] (FD=${fresh.fd}) bound to ${fresh.boundAddress}`);
      }
      if (bound === 0) failures.push(...bindErrors, `Binding service [${config.name}] failed`);
    }
    return { listeners, failures };
  }

  #onConnection = (listener: Listener, socket: Socket): void => {
    if (Date.now() < this.#suspendedUntil) {
      socket.destroy();
      return;
    }
    socket.on('error', noop);
    if (this.#tunnels.size >= this.#clientsAllowed) {
      this.#main(4, `Connection rejected: too many clients (>=${this.#clientsAllowed})`);
      socket.destroy();
      return;
    }
    const service = listener.service;
    applySocketOptions(socket, 'l', service.config.socketOptions);
    this.#main(7, `Service [${service.config.name}] accepted (FD=${fdOf(socket)}) from ${peerText(socket)}`);
    const tunnel = new Tunnel(this, service, this.#ids.next(service.config), socket);
    socket.removeListener('error', noop);
    this.#tunnels.add(tunnel);
    void tunnel.run();
  };

  /**
   * accept() failing for lack of descriptors: Node keeps the listener open and reports
   * the error here. Say so once per burst and refuse connections for a second.
   */
  #onAcceptError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EMFILE' && err.code !== 'ENFILE') {
      this.#main(3, `accept: ${systemErrorText(err)}`);
      return;
    }
    const now = Date.now();
    if (now < this.#suspendedUntil) return;
    this.#suspendedUntil = now + FD_WALL_PAUSE_MS;
    this.#main(3, `local socket: ${systemErrorText(err)}`);
    this.#main(5, 'Accepting new connections suspended for 1 second');
    this.emit('fdWall');
  };
}

function noop(): void {}

function fdOf(socket: Socket): number {
  return (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
}
