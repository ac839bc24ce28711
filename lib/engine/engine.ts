/**
 * @module engine/engine
 * The tunnel engine the process layer drives: prepare (build every TLS context) →
 * start (resolve, bind, start exec+connect services) → reload (swap) → close. It receives
 * the Config and a LogWriter, reads only the files the TLS settings name, and reports its
 * news upward by counting to `meter` when the process layer sets one (the `metrics` option,
 * engine/meter): connections, and the descriptor wall below.
 *
 * THE DESCRIPTOR WALL. At EMFILE libuv accepts and closes pending connections itself
 * (its "emfile trick") and Node's server never hears of it, so the engine watches for the
 * wall another way: descriptors are allocated lowest-first, so an accepted socket whose
 * fd is within FD_HEADROOM free slots of the soft limit (descriptors inherited high in the
 * table counted at start) means the table is (nearly) full; a remote
 * socket failing with EMFILE says the same. Then it logs stunnel's two lines once, and
 * for a second closes every connection it accepts (the port stays bound, the listener
 * stays open), after which it accepts normally again by itself.
 */
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Config, LogLevel, ServiceConfig } from '../config/model';
import { StartupError } from '../errors';
import type { LogWriter } from '../log';
import { buildServiceTls, ContextError, type ContextNotice } from '../tls/context';
import { PassphraseBook } from '../tls/passphrase';
import { errnoText } from '../errno';
import { literalDestinations, resolveTargets } from './connect';
import { ExecConnectLoop } from './exec-connect';
import { ConnectionIds } from './ids';
import { clientsAllowed, descriptorLimit, wallDescriptor } from './limits';
import { Listener } from './listener';
import type { TunnelMeter } from './meter';
import { checkNodeInternals, descriptorOf } from '../node-internals';
import type { RuntimeService } from './service';
import { socketSetup } from './sockets';
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
/** Descriptors kept free below the soft limit: a tunnel needs a second one for its far side. */
const FD_HEADROOM = 4;

export class Engine implements TunnelHost {
  readonly #ids = new ConnectionIds();
  readonly #tunnels = new Set<Tunnel>();
  #listeners: Listener[] = [];
  /** Listeners out of service, still open while they retire (a drain's fence) or close. */
  #retired: Listener[] = [];
  #execLoops: ExecConnectLoop[] = [];
  #current: Prepared | null = null;
  readonly #fdLimit = descriptorLimit();
  readonly #clientsAllowed = clientsAllowed(this.#fdLimit);
  /** An accepted descriptor at or above this number means the table is full. */
  readonly #fdWallAt = wallDescriptor(this.#fdLimit, FD_HEADROOM);
  #suspendedUntil = 0;
  #mainLevel: LogLevel = 7;
  /** Where connection counts go (`metrics = …`); null: nowhere, at the cost of a null check. */
  meter: TunnelMeter | null = null;
  /** While draining: called when the last tunnel has ended. */
  #drained: (() => void) | null = null;

  /** `passphrases`: how encrypted private keys are unlocked (by default they cannot be). */
  constructor(readonly log: LogWriter, readonly passphrases: PassphraseBook = new PassphraseBook(null)) {
    checkNodeInternals();
  }

  /** How many connections run at once before new ones are refused. */
  get clientsAllowed(): number {
    return this.#clientsAllowed;
  }

  /**
   * Builds every service's secure context; throws StartupError with stunnel's text. What it
   * notices on the way (`Insecure file permissions on F`) is logged unless `logNotices` is
   * false: a worker's reload, whose primary checked the same files and logged them once.
   */
  prepare(config: Config, { logNotices = true }: { readonly logNotices?: boolean } = {}): Prepared {
    const services = new Map<ServiceConfig, RuntimeService>();
    const notices: ContextNotice[] = [];
    const all = config.inetd ? [...config.services, config.inetd] : config.services;
    for (const service of all) {
      try {
        services.set(service, this.#runtime(service, notices));
      } finally {
        if (logNotices) this.#flushNotices(config, notices);
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

  /**
   * Resolves connect targets, binds every accept address (`Service [x] (FD=n) bound to A:P`)
   * and starts exec+connect services; rejects if a service binds none.
   */
  async start(prepared: Prepared): Promise<void> {
    this.#use(prepared);
    this.#main(7, `Clients allowed=${this.#clientsAllowed}`);
    await this.#resolveAll(prepared);
    const { listeners, failures } = await this.#bindAll(prepared, new Map());
    if (failures.length > 0) {
      await Promise.all(listeners.map((l) => l.close()));
      throw new StartupError(failures);
    }
    this.#listeners = listeners;
    this.#startExecConnect(prepared);
  }

  /**
   * Swaps to a new configuration. Listeners whose address is unchanged stay open and
   * serve the new settings; new addresses are bound before removed ones close; live
   * tunnels keep the settings they started with. On failure the old state stays.
   */
  async reload(prepared: Prepared): Promise<void> {
    await this.#resolveAll(prepared);
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
    this.#use(prepared);
    for (const loop of this.#execLoops) loop.stop();
    this.#startExecConnect(prepared);
    await Promise.all(removed.map((l) => l.close()));
  }

  /** Serves one connection that is already open (inetd mode on stdin/stdout, `-fd`). Resolves when it ends. */
  serveOne(service: ServiceConfig, client: Duplex): Promise<void> {
    const runtime = this.#current?.services.get(service) ?? this.#runtime(service, []);
    return new Promise((resolve) => {
      const tunnel = this.#open(runtime, this.#ids.next(service), client);
      tunnel.onFinished = resolve;
      tunnel.start();
    });
  }

  activeConnections(): ActiveConnection[] {
    return [...this.#tunnels].map((t) => ({
      service: t.service.config.name, id: t.id, sentToTls: t.sentToTls, sentToSocket: t.sentToSocket,
    }));
  }

  /** Bytes Node holds in socket buffers for every live tunnel (diagnostics and tests). */
  bufferedBytes(): number {
    let total = 0;
    for (const tunnel of this.#tunnels) total += tunnel.bufferedBytes;
    return total;
  }

  /** Stops accepting and drops every tunnel (as stunnel on TERM); a drain under way ends at once. */
  async close(): Promise<void> {
    this.#retireAll();
    const closing = this.#closeRetired();
    for (const tunnel of [...this.#tunnels]) tunnel.kill();
    await closing;
  }

  /**
   * `TIMEOUTdrain`: stops accepting at once (a balancer's next connect is refused), without
   * resetting what the kernel had queued: each TCP listener is fenced and closes once that is
   * accepted (engine/fence). Every live tunnel runs until it ends or `seconds` pass, then what is
   * left is dropped. A `close()` meanwhile drops them at once and ends the drain.
   */
  async drain(seconds: number): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(this.#retireAll().map((listener) => listener.retire(() => {
      this.#main(7, `Service [${listener.service.config.name}] (FD=${listener.fd}) fenced: accepting what is queued, then closing`);
    })));
    if (this.#tunnels.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#drained = null;
    }
    for (const tunnel of [...this.#tunnels]) tunnel.kill();
    await this.#closeRetired();
  }

  /** Takes every listener out of service (kept in #retired until closed) and stops the exec+connect loops. */
  #retireAll(): Listener[] {
    const listeners = this.#listeners;
    this.#listeners = [];
    this.#retired.push(...listeners);
    for (const loop of this.#execLoops) loop.stop();
    this.#execLoops = [];
    return listeners;
  }

  /** Closes every listener taken out of service (ending a fence); resolves when they are closed. */
  async #closeRetired(): Promise<void> {
    const listeners = this.#retired;
    this.#retired = [];
    await Promise.all(listeners.map((l) => l.close()));
  }

  /** Live tunnels (TIMEOUTdrain's count). */
  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  /** TunnelHost: a tunnel has ended. */
  forget(tunnel: Tunnel): void {
    this.#tunnels.delete(tunnel);
    if (this.#tunnels.size === 0) this.#drained?.();
  }

  /** TunnelHost: a remote socket could not be created for lack of descriptors. */
  descriptorShortage(): void {
    this.#suspend(null);
  }

  #use(prepared: Prepared): void {
    this.#current = prepared;
    this.#mainLevel = prepared.config.global.debugLevel;
    this.meter?.configure(this.#clientsAllowed, [...prepared.services.keys()], () => this.#listenerCounts());
  }

  /** Listening sockets per service that has `accept` addresses (0: it accepts nothing now). */
  #listenerCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    const current = this.#current;
    if (current === null) return counts;
    for (const config of current.services.keys()) {
      if (config !== current.config.inetd && config.accept.length > 0) counts.set(config.name, 0);
    }
    for (const listener of this.#listeners) {
      const name = listener.service.config.name;
      if (listener.server.listening && counts.has(name)) counts.set(name, counts.get(name)! + 1);
    }
    return counts;
  }

  /** A tunnel registered with the engine, not started yet. */
  #open(runtime: RuntimeService, id: string, local: Duplex): Tunnel {
    const tunnel = new Tunnel(this, runtime, id, local);
    this.#tunnels.add(tunnel);
    return tunnel;
  }

  /** One service with its TLS side built; StartupError with stunnel's lines when that fails. */
  #runtime(service: ServiceConfig, notices: ContextNotice[]): RuntimeService {
    let tls;
    try {
      tls = buildServiceTls(service, notices, this.passphrases);
    } catch (err) {
      if (err instanceof ContextError) throw new StartupError(err.messages);
      throw err;
    }
    const secondaries: RuntimeService[] = [];
    return {
      config: service,
      tls,
      secondaries,
      rrNext: 0,
      destinations: service.delay ? null : literalDestinations(service.connect),
      localSetup: socketSetup(service.socketOptions, 'l'),
      remoteSetup: socketSetup(service.socketOptions, 'r'),
      serverOptions: null,
    };
  }

  /**
   * Names in `connect` are resolved once, now, unless `delay = yes`. A name that does not
   * resolve turns the service to delayed lookups, as stunnel does.
   */
  async #resolveAll(prepared: Prepared): Promise<void> {
    for (const runtime of prepared.services.values()) {
      const config = runtime.config;
      if (config.delay || runtime.destinations !== null || config.connect.length === 0) continue;
      // resolveTargets says something at LOG3 only when a name did not resolve (EAI_AGAIN retries are LOG7).
      let failed = false;
      const shown = prepared.config.global.debugLevel;
      const list = await resolveTargets(config.connect, {
        say: (level, text) => {
          if (level <= 3) failed = true;
          if (level <= shown) this.log.write(level, 'ui', text);
        },
        wants: (level) => level <= shown,
      });
      if (failed || list.length === 0) {
        this.#main(6, 'Cannot resolve connect target - delaying DNS lookup');
        runtime.destinations = null;
      } else {
        runtime.destinations = list;
      }
    }
  }

  #main(level: LogLevel, text: string): void {
    if (level <= this.#mainLevel) this.log.write(level, 'ui', text);
  }

  #flushNotices(config: Config, notices: readonly ContextNotice[]): void {
    for (const n of notices) {
      if (n.level <= config.global.debugLevel) this.log.write(n.level, 'ui', n.text);
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
          const line = `Binding service [${config.name}] to ${address.text}: ${errnoText(err)}`;
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

  /** exec+connect services: the program's stdio is the client side; `retry = yes` runs it again. */
  #startExecConnect(prepared: Prepared): void {
    const loops: ExecConnectLoop[] = [];
    for (const runtime of prepared.services.values()) {
      const config = runtime.config;
      if (config === prepared.config.inetd || config.accept.length > 0 || !config.exec || config.connect.length === 0) continue;
      this.#main(7, `Starting exec+connect service [${config.name}]`);
      loops.push(new ExecConnectLoop(runtime, this.#ids.next(config), this.log, (id, stream) => this.#open(runtime, id, stream)));
    }
    this.#execLoops = loops;
    for (const loop of loops) loop.run();
  }

  #onConnection = (listener: Listener, socket: Socket): void => {
    if (this.#suspendedUntil !== 0) {
      if (Date.now() < this.#suspendedUntil) {
        socket.destroy();
        return;
      }
      this.#suspendedUntil = 0;
    }
    // No descriptor: the socket closed before this turn; the tunnel will see it end.
    const fd = descriptorOf(socket) ?? -1;
    if (fd >= this.#fdWallAt) {
      socket.destroy();
      this.#suspend('local socket: Too many open files (24)');
      return;
    }
    if (this.#tunnels.size >= this.#clientsAllowed) {
      this.#main(4, `Connection rejected: too many clients (>=${this.#clientsAllowed})`);
      socket.destroy();
      return;
    }
    const service = listener.service;
    try {
      service.localSetup(socket);
    } catch (err) {
      this.#main(3, (err as Error).message);
      socket.destroy();
      return;
    }
    if (this.#mainLevel >= 7) {
      this.#main(7, `Service [${service.config.name}] accepted (FD=${fd}) from ${socket.remoteAddress}:${socket.remotePort}`);
    }
    this.#open(service, this.#ids.next(service.config), socket).start();
  };

  /** The descriptor wall: say so once per burst, refuse connections for a second. */
  #suspend(line: string | null): void {
    const now = Date.now();
    if (now < this.#suspendedUntil) return;
    this.#suspendedUntil = now + FD_WALL_PAUSE_MS;
    if (line) this.#main(3, line);
    this.#main(5, 'Accepting new connections suspended for 1 second');
    this.meter?.fdWall();
  }

  /** accept() errors that do reach Node (the emfile trick failed, or another error). */
  #onAcceptError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EMFILE' || err.code === 'ENFILE') this.#suspend(`local socket: ${errnoText(err)}`);
    else this.#main(3, `accept: ${errnoText(err)}`);
  };
}
