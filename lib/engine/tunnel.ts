/**
 * @module engine/tunnel
 * One connection, from accept to close. Its phases (engine/tunnel-state says what each holds):
 *
 *   server mode   accepted ─▶ handshake ─verified─▶ dialing ─▶ relaying
 *     smtp, pop3  accepted ─▶ dialing ─▶ negotiating ─▶ handshake ─verified─▶ relaying
 *     pgsql       accepted ─▶ negotiating ─▶ handshake ─verified─▶ dialing ─▶ relaying
 *     socks       accepted ─▶ handshake ─verified─▶ negotiating ─▶ dialing ─▶ relaying
 *   client mode   accepted ─▶ dialing ─▶ [negotiating] ─▶ connectingTls ─verified─▶ relaying
 *
 *   any phase ──failure, TIMEOUTbusy (handshake, negotiating, connectingTls), kill──▶ ended
 *   relaying ──the relay ends (closed | reset)──▶ ended
 *
 * `accepted` reads the PROXY header first with `acceptProxy`. Server mode finishes the
 * handshake before dialing, so a client that never completes it cannot hold a backend
 * socket. Every failure ends this tunnel only.
 *
 * The tunnel is driven by events, without promises: each stream it holds points back to
 * it (a symbol property) and carries the same 'error' and 'close' listeners for its whole
 * life, one function for every tunnel (no closure per connection); what an event means
 * depends on the tunnel's phase. Those listeners and the TLS callbacks are static private
 * members: they reach the tunnel's private methods, and its public surface stays what the
 * engine and the owner interfaces use. Lines above the service's `debug` level are never built.
 */
import type { X509Certificate } from 'node:crypto';
import { Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type ConnectionOptions, type SecureContext, type TLSSocketOptions } from 'node:tls';
import { releaseTlsErrors, sessionServer, setVerifyMode } from '../node-internals';
import type { Duplex } from 'node:stream';
import type { LogLevel, ServiceConfig } from '../config/model';
import { isClientProtocol, isServerProtocol, type ClientProtocol, type ServerProtocol } from '../config/options';
import type { LogFields, LogWriter, StructuredWriter } from '../log';
import { cipherLine, tlsErrorText, sessionLine } from '../tls/describe';
import { watchClientHello } from '../tls/ticket-renewal';
import { errnoText } from '../errno';
import { isPeerDisconnect } from './socket-errors';
import { checkRevocation, ocspChain } from '../tls/ocsp';
import { judgePeer, subjectText, type Speaker } from '../tls/verify';
import { peerText } from './address';
import { Dialer, literalDestinations, resolveTargets, type Destination, type DialOwner } from './connect';
import { startExec } from './exec';
import { Relay, type RelayOwner } from './relay';
import { sniSecondary, type RuntimeService } from './service';
import { heldFinCarrier } from './carrier';
import { handshakeFailureOf, type HandshakeFailure, type TunnelMeter } from './meter';
import { negotiate, negotiateAsServer, pgsqlServer, type NegotiationFailure } from './negotiate';
import { socksRequest } from './socks';
import { proxyV1, proxyV2, type ProxiedAddresses } from './proxy-header';
import { readProxyHeader, type ProxyHeaderOwner } from './proxy-in';
import { tlsFacts } from './proxy-out';
import { alertExchanged, resetsLocal, resetsRemote, tlsToldStatus, type CloseStatus } from './status';
import { closeStream } from './teardown';
import {
  ACCEPTED, ENDED, relayOf,
  type ClientHandshake, type Dialing, type Far, type Live, type Negotiating, type ServerHandshake, type State,
} from './tunnel-state';

/** What a tunnel needs from the engine. */
export interface TunnelHost {
  readonly log: LogWriter;
  /** Called once when the tunnel has ended (logged or killed). */
  forget(tunnel: Tunnel): void;
  /** The descriptor table is full (a remote socket could not be created). */
  descriptorShortage(): void;
  /** Where this connection's counts go (`metrics`), or null. */
  readonly meter: TunnelMeter | null;
}

const TUNNEL = Symbol('tunnel');
type Owned = Duplex & { [TUNNEL]?: Tunnel };

const UNEXPECTED_EOF = 'error:0A000126:SSL routines::unexpected eof while reading';

export class Tunnel implements DialOwner, RelayOwner, Speaker, ProxyHeaderOwner {
  readonly id: string;
  /** The service serving this connection: the accepting one, until a server-side SNI match switches it to a secondary. */
  #service: RuntimeService;
  readonly #host: TunnelHost;
  readonly #local: Owned;
  readonly #localRaw: Socket | null;
  /** The accepting service's `debug`: stunnel 5.68 keeps it for the connection's lines, SNI switch or not. */
  readonly #debugLevel: LogLevel;
  #peerText: string | null = null;
  /**
   * The client, for everything that names it (log lines, fail2ban, exec's REMOTE_HOST, the
   * PROXY header to the backend, metrics): the accepted socket's peer, or the address a
   * PROXY header named (`acceptProxy`). null for clients without an address (pipes, Unix sockets).
   */
  #client: ProxiedAddresses | null;
  /** The PROXY header named no client (v2 LOCAL, `PROXY UNKNOWN`): the balancer itself, e.g. a health check. */
  #balancerItself = false;
  #state: State = ACCEPTED;
  readonly #meter: TunnelMeter | null;
  /** The accepting section's name: the active-connections gauge's label, SNI switch or not. */
  readonly #acceptedBy: string;
  /** `logFormat = json`: lines go out with their fields (null in text mode). */
  readonly #structured: StructuredWriter | null;
  /** performance.now() at accept, for the JSON summary's duration (JSON mode only). */
  #openedAt = 0;
  /** Called once when the tunnel has ended, whichever way (inetd mode waits on it). */
  onFinished: (() => void) | null = null;

  constructor(host: TunnelHost, service: RuntimeService, id: string, local: Duplex) {
    this.#host = host;
    this.#service = service;
    this.#debugLevel = service.config.debugLevel;
    this.id = id;
    this.#local = local;
    this.#localRaw = local instanceof Socket ? local : null;
    // Half-close is relayed: an EOF from the client must not end our side (inetd's fd 0 is made without it).
    if (this.#localRaw) this.#localRaw.allowHalfOpen = true;
    const raw = this.#localRaw;
    this.#client = raw?.remoteAddress && raw.localAddress
      ? { address: raw.remoteAddress, port: raw.remotePort ?? 0, localAddress: raw.localAddress, localPort: raw.localPort ?? 0 }
      : null;
    this.#meter = host.meter;
    this.#acceptedBy = service.config.name;
    this.#meter?.accepted(this.#acceptedBy);
    this.#structured = host.log.structured ?? null;
    if (this.#structured) this.#openedAt = performance.now();
  }

  /** The service serving this connection (the SNI secondary once switched). */
  get service(): RuntimeService {
    return this.#service;
  }

  /**
   * The configuration in force: the one place the tunnel reads its options from. After a
   * server-side SNI switch it is the secondary's, whole: verification, TIMEOUTbusy, reset,
   * protocol settings, backend (stunnel switches the connection's section the same way). The
   * one exception, as in stunnel 5.68: the log level stays the accepting service's.
   */
  get #config(): ServiceConfig {
    return this.#service.config;
  }

  get sentToTls(): number {
    return relayOf(this.#state)?.sentToTls ?? 0;
  }

  get sentToSocket(): number {
    return relayOf(this.#state)?.sentToSocket ?? 0;
  }

  /** Bytes Node holds for this tunnel right now (0 before relaying). */
  get bufferedBytes(): number {
    return relayOf(this.#state)?.bufferedBytes ?? 0;
  }

  /** `127.0.0.1:51886` of the accepted client, '' when it has no address (pipes). */
  get #peer(): string {
    this.#peerText ??= this.#client ? peerText({ remoteAddress: this.#client.address, remotePort: this.#client.port })
      : this.#localRaw ? peerText(this.#localRaw) : '';
    return this.#peerText;
  }

  /**
   * Who a failed handshake is blamed on, in the `(from ADDR:PORT)` that fail2ban bans on. A
   * connection of the balancer itself (a health check hanging up mid-handshake) is marked, so
   * that the filter, anchored on `(from ADDR:PORT)`, never bans the balancer.
   */
  get #failedFrom(): string {
    return this.#balancerItself ? `${this.#peer}, PROXY LOCAL` : this.#peer;
  }

  /** Would a line at `level` be logged? */
  wants(level: LogLevel): boolean {
    return level <= this.#debugLevel;
  }

  /** Writes a connection line when the service's `debug` level lets it through. */
  say(level: LogLevel, text: string): void {
    if (level > this.#debugLevel) return;
    if (this.#structured === null) this.#host.log.write(level, this.id, text);
    else this.#structured.record(level, this.id, text, { service: this.#config.name, peer: this.#peer, event: 'log' });
  }

  /** Starts serving; everything after this is driven by events. */
  start(): void {
    // stunnel's first line of every connection (its thread start); its test suite waits on it in inetd mode.
    if (this.wants(7)) this.say(7, `Service [${this.#config.name}] started`);
    if (this.#config.acceptProxy && this.#localRaw) {
      readProxyHeader(this.#localRaw, this, Math.max(0, this.#config.timeouts.busy) * 1000);
      return;
    }
    this.#begin();
  }

  /** ProxyHeaderOwner: the balancer's header named the client (or none: the connection's own addresses stand). */
  proxyHeaderRead(client: ProxiedAddresses | null): void {
    if (this.#state.phase === 'ended') return;
    if (client) {
      this.#client = client;
      this.#peerText = null;
    } else {
      this.#balancerItself = true;
    }
    this.#begin();
  }

  /** ProxyHeaderOwner: no valid header; the connection is dropped without a word back. */
  proxyHeaderRefused(reason: string): void {
    if (this.#state.phase === 'ended') return;
    const real = this.#localRaw ? peerText(this.#localRaw) : '';
    this.say(3, `Service [${this.#config.name}]: PROXY header refused from ${real}: ${reason}`);
    this.kill();
  }

  #begin(): void {
    const config = this.#config;
    const name = config.name;
    if (this.wants(5)) {
      this.say(5, this.#peer ? `Service [${name}] accepted connection from ${this.#peer}` : `Service [${name}] accepted connection`);
    }
    if (config.client || isServerProtocol(config.protocol)) {
      // Client mode, or a server-mode protocol that needs the backend's greeting before TLS.
      this.#watch(this.#local);
      this.#openRemote(null, config.connect);
    } else if (config.protocol === 'pgsql') {
      this.#pgsqlServer();
    } else {
      this.#serverHandshake(null);
    }
  }

  /** Drops the tunnel without its `Connection closed` line (shutdown, as stunnel on TERM). */
  kill(): void {
    const left = this.#stop();
    if (left === null) return;
    this.#closeSides(left, false, false);
    this.#finished();
  }

  // ─── server mode ───────────────────────────────────────────────────────────

  /** The client's handshake; `far` is the backend when a protocol dialogue came first (smtp, pop3). */
  #serverHandshake(far: Far | null): void {
    const options = this.service.serverOptions ??= Tunnel.#serverOptions(this.service);
    const tls = new TLSSocket(this.#local, options);
    watchClientHello(tls);
    this.#awaitHandshake(tls, 'secure', Tunnel.#onServerSecure);
    this.#state = { phase: 'handshake', tls, far, timer: this.#busyTimer(), ocsp: null, since: this.#now(), externalPsk: false };
  }

  /** Watches a new TLS socket until `doneEvent` or its EOF. */
  #awaitHandshake(tls: TLSSocket, doneEvent: string, onDone: (this: TLSSocket) => void): void {
    this.#watch(tls);
    tls.on(doneEvent, onDone);
    tls.on('end', Tunnel.#onHandshakeEnd);
  }

  /** TIMEOUTbusy: how long the peer may keep us waiting for the handshake or the protocol dialogue. */
  #busyTimer(): NodeJS.Timeout {
    return setTimeout(Tunnel.#onBusyExpired, Math.max(0, this.#config.timeouts.busy) * 1000, this);
  }

  /** performance.now() for the meter's durations (0 without a meter). */
  #now(): number {
    return this.#meter ? performance.now() : 0;
  }

  /** `doneEvent` came on `tls`: stop watching for it. */
  #stopAwaiting(tls: TLSSocket, doneEvent: string, onDone: (this: TLSSocket) => void): void {
    tls.removeListener(doneEvent, onDone);
    tls.removeListener('end', Tunnel.#onHandshakeEnd);
  }

  /** The handshake is done (the verdict comes next): TIMEOUTbusy no longer applies. */
  #handshakeDone(state: ServerHandshake | ClientHandshake): void {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    this.#describeHandshake(state);
  }

  /** A handshake that succeeded (peer verified), to the meter. */
  #metered(state: ServerHandshake | ClientHandshake): void {
    this.#meter?.handshakeDone(this.#config.name, (performance.now() - state.since) / 1000, state.tls.isSessionReused());
  }

  /** A handshake that failed, to the meter. */
  #handshakeLost(reason: HandshakeFailure): void {
    this.#meter?.handshakeFailed(this.#config.name, reason);
  }

  /** TLSSocket 'secure': the server handshake is done. */
  #serverSecure(tls: TLSSocket): void {
    this.#stopAwaiting(tls, 'secure', Tunnel.#onServerSecure);
    const state = this.#state;
    if (state.phase !== 'handshake') return;
    this.#handshakeDone(state);
    releaseTlsErrors(tls);
    this.#judgePeer(state, this.service.tls.requestCert, (accepted) => this.#serverVerdict(state, accepted));
  }

  /** The client's certificate is judged (and checked with OCSP): refuse, redirect or go on. */
  #serverVerdict(state: ServerHandshake, accepted: boolean): void {
    if (this.#state !== state) return;
    const config = this.#config;
    const { tls, far } = state;
    let targets = config.connect;
    // After a protocol dialogue the backend is connected already: no redirect then.
    if (!accepted) {
      if (config.redirect.length === 0 || far) {
        this.say(3, `SSL_accept: error:0A000086:SSL routines::certificate verify failed (from ${this.#failedFrom})`);
        this.#handshakeLost('verify');
        return this.#end(tlsToldStatus(false));
      }
      this.say(5, 'Redirecting connection');
      targets = config.redirect;
    }
    this.#metered(state);
    if (far) return this.#startRelay(tls, far);
    if (config.protocol === 'socks') return this.#socks(tls);
    this.#openRemote(tls, targets);
  }

  /**
   * The peer's certificate judged (tls/verify; `judge` false: nothing asked, nothing to judge),
   * then checked with OCSP when configured (tls/ocsp, asynchronous): `then` gets the verdict.
   */
  #judgePeer(state: ServerHandshake | ClientHandshake, judge: boolean, then: (accepted: boolean) => void): void {
    const config = this.#config.tls;
    const chain = ocspChain(state.tls, config); // before judgePeer: see ocspChain
    const accepted = !judge || judgePeer(state.tls, config, this.service.tls.trusted, this);
    if (accepted && chain) void this.#checkRevocation(state, chain).then(then);
    else then(accepted);
  }

  /** OCSP (tls/ocsp), bounded by TIMEOUTconnect/TIMEOUTbusy and abandoned when the tunnel ends. */
  #checkRevocation(state: ServerHandshake | ClientHandshake, chain: X509Certificate[]): Promise<boolean> {
    const abort = state.ocsp = new AbortController();
    const config = this.#config;
    return checkRevocation(chain, {
      tls: config.tls,
      anchors: this.service.tls.ocspAnchors,
      limits: { connect: config.timeouts.connect, busy: config.timeouts.busy, signal: abort.signal },
      log: this,
    }).catch((err: unknown) => {
      this.say(3, `OCSP: ${(err as Error).message}`);
      return false;
    });
  }

  /** Server-side SNI: switch to the secondary service whose pattern matches. */
  #pickSni(servername: string): SecureContext | undefined {
    const state = this.#state;
    if (state.phase !== 'handshake') return undefined;
    this.say(6, `SNI: requested servername: ${servername}`);
    const secondary = sniSecondary(this.service, servername);
    if (!secondary) {
      this.say(3, `SNI: no pattern matched servername: ${servername}`);
      return undefined;
    }
    if (this.wants(7)) this.say(7, `SNI: matched pattern: ${secondary.config.sniPattern}`);
    this.say(5, `SNI: switched to service [${secondary.config.name}]`);
    this.#service = secondary;
    // The rest of the handshake is the secondary's: whether it asks for a client certificate
    // (the context Node switches to carries the CAs, not this), and its TIMEOUTbusy.
    setVerifyMode(state.tls, secondary.tls.requestCert, secondary.tls.refuseWithoutCert);
    if (state.timer) clearTimeout(state.timer);
    state.timer = this.#busyTimer();
    return secondary.tls.secureContext;
  }

  #serverPsk(identity: string): Buffer | null {
    const key = this.service.tls.psk?.get(identity) ?? null;
    if (!key) this.say(3, `PSK identity not found (session ${identity})`);
    else {
      const state = this.#state;
      if (state.phase === 'handshake') state.externalPsk = true;
      this.say(5, `Key configured for PSK identity "${identity}"`);
    }
    return key;
  }

  // ─── the far side ──────────────────────────────────────────────────────────

  /** Dialing, holding `tls` (server mode, after the handshake) meanwhile. */
  #dialing(tls: TLSSocket | null): Dialing {
    const state: Dialing = { phase: 'dialing', tls, far: null, dialer: null, since: 0 };
    this.#state = state;
    return state;
  }

  /** The far endpoint: the exec'd program, or a dialed socket (resolving names first with `delay`). */
  #openRemote(tls: TLSSocket | null, targets: ServiceConfig['connect']): void {
    const state = this.#dialing(tls);
    const config = this.#config;
    if (config.exec && targets.length === 0) {
      const cert = tls?.getPeerX509Certificate();
      const stream = startExec(config, {
        host: this.#client?.address ?? '', port: this.#client?.port ?? 0,
        subject: cert ? subjectText(cert) : undefined, issuer: cert ? cert.issuer.split('\n').reverse().join(',') : undefined,
      }, this);
      this.#watch(stream);
      this.#remoteReady(tls, { stream, raw: null, destination: null });
      return;
    }
    const known = targets === config.connect ? this.service.destinations : literalDestinations(targets);
    if (known) {
      this.#dial(state, known);
      return;
    }
    resolveTargets(targets, this).then((list) => {
      if (this.#state === state) this.#dial(state, list);
    }, (err) => this.#internalError(err));
  }

  #dial(state: Dialing, destinations: readonly Destination[]): void {
    const config = this.#config;
    const start = config.failover === 'rr' && !config.delay ? this.service.rrNext++ : 0;
    state.since = this.#now();
    const dialer = state.dialer = new Dialer(this, config, destinations, start, this.service.remoteSetup);
    dialer.next();
  }

  /** DialOwner: the remote socket answered (options applied), or nothing did. */
  dialed(socket: Socket | null, destination: Destination | null): void {
    const state = this.#state;
    if (state.phase !== 'dialing') {
      socket?.destroy();
      return;
    }
    state.dialer = null;
    if (this.#meter) {
      const seconds = (performance.now() - state.since) / 1000;
      if (socket) this.#meter.backendConnected(seconds);
      else this.#meter.backendFailed(this.#config.name, seconds);
    }
    if (!socket) return this.#end('reset');
    if (this.wants(5)) this.say(5, `Service [${this.#config.name}] connected remote server from ${socket.localAddress}:${socket.localPort}`);
    this.#remoteReady(state.tls, { stream: socket, raw: socket, destination });
  }

  /** DialOwner: a remote socket failed with EMFILE/ENFILE. */
  descriptorShortage(): void {
    this.#host.descriptorShortage();
  }

  /** The far side is there: client mode's dialogue or handshake; server mode's dialogue (smtp, pop3) or relay. */
  #remoteReady(tls: TLSSocket | null, far: Far): void {
    const config = this.#config;
    const protocol = config.protocol;
    if (config.client) {
      if (isClientProtocol(protocol)) this.#negotiate(protocol, far);
      else this.#clientHandshake(far, far.stream);
      return;
    }
    if (far.raw) this.#watch(far.raw);
    if (tls === null) {
      // Server mode dials before the handshake only for smtp and pop3 (#begin).
      if (isServerProtocol(protocol)) return this.#negotiateAsServer(protocol, far);
      return this.#internalError(new Error(`dialed before the TLS handshake with protocol ${protocol}`));
    }
    if (protocol === 'proxy') {
      far.stream.write(config.proxyVersion === 2 ? proxyV2(this.#client, tlsFacts(tls, config.tls)) : proxyV1(this.#client));
    }
    this.#startRelay(tls, far);
  }

  /** Server mode pgsql: the client's SSLRequest answered before the handshake, before any backend. */
  #pgsqlServer(): void {
    this.#watch(this.#local);
    this.#talkBeforeHandshake(null, pgsqlServer(this.#local, this));
  }

  /** Server mode socks: the client's request inside TLS names the destination (TIMEOUTbusy applies). */
  #socks(tls: TLSSocket): void {
    this.#negotiating(tls, null, socksRequest(tls, this), (result) => {
      if ('status' in result) return this.#refused(result);
      this.#dial(this.#dialing(tls), result);
    });
  }

  /** Server mode smtp/pop3: the dialogue with the plain client for the connected backend, then the handshake. */
  #negotiateAsServer(protocol: ServerProtocol, far: Far): void {
    this.#talkBeforeHandshake(far, negotiateAsServer(protocol, this.#config.protocolSettings, far.stream, this.#local, this));
  }

  /**
   * A server-mode dialogue with the plain client, already under way (TIMEOUTbusy applies):
   * when it succeeds, the TLS handshake on the client's socket; else the refusal.
   */
  #talkBeforeHandshake(far: Far | null, dialogue: Promise<NegotiationFailure | null>): void {
    this.#negotiating(null, far, dialogue, (failure) => {
      if (failure !== null) return this.#refused(failure);
      // The TLS socket takes the client's socket over, with its own listeners.
      this.#unwatch(this.#local);
      this.#serverHandshake(far);
    });
  }

  /** A dialogue under way, under TIMEOUTbusy: `then` gets its outcome unless the tunnel has moved on. */
  #negotiating<T>(tls: TLSSocket | null, far: Far | null, dialogue: Promise<T>, then: (outcome: T) => void): void {
    const state: Negotiating = { phase: 'negotiating', tls, far, timer: this.#busyTimer() };
    this.#state = state;
    dialogue.then((outcome) => {
      if (this.#state !== state) return;
      clearTimeout(state.timer);
      then(outcome);
    }, (err) => this.#internalError(err));
  }

  /** A dialogue before the relay failed: its LOG3 line (unless logged already), and the end. */
  #refused(failure: NegotiationFailure): void {
    if (failure.text !== null) this.say(3, failure.text);
    this.#end(failure.status);
  }

  // ─── client mode ───────────────────────────────────────────────────────────

  /** The protocol's dialogue on the plain far side (TIMEOUTbusy applies), then the handshake. */
  #negotiate(protocol: ClientProtocol, far: Far): void {
    const dialogue = negotiate(protocol, this.#config.protocolSettings, far.stream, this.#local, this);
    this.#negotiating(null, far, dialogue, (failure) => {
      if (failure !== null) return this.#refused(failure);
      // Through an HTTP proxy, the TLS side's end must not half-close the TCP connection early.
      this.#clientHandshake(far, protocol === 'connect' && far.raw ? heldFinCarrier(far.raw) : far.stream);
    });
  }

  /** Our handshake with the server, over `carrier` (the far side, or what holds its FIN). */
  #clientHandshake(far: Far, carrier: Duplex): void {
    const tls = this.service.tls;
    const target = far.destination?.text ?? null;
    const session = target ? tls.clientSessions?.get(target) : undefined;
    if (tls.servername && this.wants(6)) this.say(6, `SNI: sending servername: ${tls.servername}`);
    const socket = tlsConnect({
      socket: carrier,
      secureContext: tls.secureContext,
      servername: tls.servername,
      session,
      rejectUnauthorized: false,
      checkServerIdentity: noIdentityCheck,
      // tls.connect may build the ClientHello before it returns, before the socket points back
      // here: the (rare) PSK client gets a callback of its own.
      pskCallback: tls.psk ? () => this.#clientPsk() : undefined,
      allowHalfOpen: true,
    } as ConnectionOptions);
    this.#awaitHandshake(socket, 'secureConnect', Tunnel.#onClientSecure);
    if (tls.clientSessions && target) socket.on('session', Tunnel.#onClientSession);
    this.#state = {
      phase: 'connectingTls', tls: socket, far, timer: this.#busyTimer(), ocsp: null, since: this.#now(),
      offeredSession: session !== undefined, pendingSession: null,
    };
  }

  /** TLSSocket 'secureConnect': the client handshake is done. */
  #clientSecure(tls: TLSSocket): void {
    this.#stopAwaiting(tls, 'secureConnect', Tunnel.#onClientSecure);
    const state = this.#state;
    if (state.phase !== 'connectingTls') return;
    this.#handshakeDone(state);
    // The client cache holds sessions of accepted servers only, and a server can resume only a
    // session we offered: a resumed session carries that verdict (OpenSSL does not keep the
    // server's chain in a client session, so it cannot be judged again).
    const verdictCarried = state.offeredSession && tls.isSessionReused();
    this.#judgePeer(state, !verdictCarried, (accepted) => this.#clientVerdict(state, accepted));
  }

  #clientVerdict(state: ClientHandshake, accepted: boolean): void {
    if (this.#state !== state) return;
    if (!accepted) {
      this.say(3, 'SSL_connect: error:0A000086:SSL routines::certificate verify failed');
      this.#handshakeLost('verify');
      return this.#end(tlsToldStatus(true));
    }
    if (state.pendingSession) this.#keepSession(state.far, state.pendingSession);
    this.#metered(state);
    this.#startRelay(state.tls, state.far);
  }

  /**
   * TLSSocket 'session': kept for the next connection only once this server was accepted
   * (client mode relays only then); before the verdict, held until it comes.
   */
  #clientSession(data: Buffer): void {
    const state = this.#state;
    if (state.phase === 'relaying') this.#keepSession(state.far, data);
    else if (state.phase === 'connectingTls') state.pendingSession = data;
  }

  /** Into the client session cache, under the destination the accepted server was dialed at. */
  #keepSession(far: Far, data: Buffer): void {
    const target = far.destination?.text;
    if (target) this.service.tls.clientSessions?.set(target, data);
  }

  #clientPsk(): { psk: Buffer; identity: string } | null {
    const tls = this.service.tls;
    const identity = tls.pskIdentity;
    const psk = identity !== null ? tls.psk?.get(identity) : undefined;
    if (!psk || identity === null) return null;
    this.say(6, `PSK client configured for identity "${identity}"`);
    return { psk, identity };
  }

  // ─── relaying and ending ───────────────────────────────────────────────────

  #describeHandshake(state: ServerHandshake | ClientHandshake): void {
    // stunnel 5.68 skips these when the service in force (an SNI secondary) logs below info,
    // and writes them, like every line, at the accepting service's level.
    if (this.#config.debugLevel < 6 || !this.wants(6)) return;
    const server = state.phase === 'handshake';
    this.say(6, sessionLine(state.tls, server, state.phase === 'handshake' && state.externalPsk));
    this.say(6, cipherLine(state.tls));
  }

  /** The relay between the TLS side and the plain one (server mode: the far side; client mode: the client). */
  #startRelay(tls: TLSSocket, far: Far): void {
    const config = this.#config;
    const plain = config.client ? this.#local : far.stream;
    this.#state = { phase: 'relaying', tls, far, relay: new Relay(tls, plain, config.timeouts, this, config.client) };
  }

  /** RelayOwner: the relay has ended. */
  relayDone(status: CloseStatus): void {
    this.#end(status);
  }

  /** Every stream the tunnel holds carries these two listeners for its whole life. */
  #watch(stream: Owned): void {
    stream[TUNNEL] = this;
    stream.on('error', Tunnel.#onStreamError);
    stream.on('close', Tunnel.#onStreamClose);
  }

  #unwatch(stream: Owned): void {
    stream.off('error', Tunnel.#onStreamError);
    stream.off('close', Tunnel.#onStreamClose);
  }

  /** An error on one of our streams: what it means depends on the phase. */
  #streamError(stream: Duplex, err: Error): void {
    const state = this.#state;
    switch (state.phase) {
      case 'ended':
        return;
      case 'relaying':
        state.relay.failed(stream, err);
        return;
      case 'handshake':
      case 'connectingTls':
        if (stream === state.tls) return this.#handshakeFailed(state, err);
        break;
    }
    // Before relaying: a peer leaving is a normal end, anything else a reset.
    if (isPeerDisconnect(err)) {
      if (this.wants(6)) this.say(6, `${stream === state.tls ? 'TLS fd' : 'socket fd'}: ${errnoText(err)}`);
      return this.#end('closed');
    }
    this.say(3, `Connection lost before transfer: ${errnoText(err)}`);
    this.#end('reset');
  }

  /** The TLS peer's EOF before the handshake finished. */
  #handshakeEnd(): void {
    const state = this.#state;
    if (state.phase === 'handshake' || state.phase === 'connectingTls') this.#streamClose(state.tls);
  }

  /** A stream closed: during the handshake that is the peer's EOF; while relaying the relay decides. */
  #streamClose(stream: Duplex): void {
    const state = this.#state;
    switch (state.phase) {
      case 'ended':
        return;
      case 'relaying':
        state.relay.closed(stream);
        return;
      case 'negotiating':
        if (stream === state.far?.stream) {
          this.say(3, 's_read: Unexpected socket close');
          return this.#end('reset');
        }
        break;
      case 'handshake':
      case 'connectingTls':
        if (stream === state.tls) {
          const server = state.phase === 'handshake';
          this.say(3, server ? `SSL_accept: ${UNEXPECTED_EOF} (from ${this.#failedFrom})` : `SSL_connect: ${UNEXPECTED_EOF}`);
          this.#handshakeLost('eof');
          return this.#end(tlsToldStatus(!server));
        }
        break;
    }
    this.#end('closed');
  }

  #handshakeFailed(state: ServerHandshake | ClientHandshake, err: Error): void {
    const server = state.phase === 'handshake';
    const code = (err as NodeJS.ErrnoException).code;
    const text = typeof code === 'string' && !code.startsWith('ERR_') ? errnoText(err) : tlsErrorText(err);
    this.say(3, server ? `SSL_accept: ${text} (from ${this.#failedFrom})` : `SSL_connect: ${text}`);
    this.#handshakeLost(handshakeFailureOf(err));
    this.#end(alertExchanged(err) ? tlsToldStatus(!server) : 'reset');
  }

  #busyExpired(): void {
    const phase = this.#state.phase;
    // stunnel names the read it was waiting in: a STARTTLS reply, or the TLS handshake.
    this.say(6, `${phase === 'negotiating' ? 's_read_eof' : 'ssl_start'}: s_poll_wait: TIMEOUTbusy exceeded: sending reset`);
    if (phase === 'handshake' || phase === 'connectingTls') this.#handshakeLost('timeout');
    this.#end('reset');
  }

  #internalError(err: unknown): void {
    this.say(3, `INTERNAL ERROR: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    this.#end('reset');
  }

  /** Ends the phase in force for good (its timer, OCSP check, dialer or relay stop): the phase left, or null if ended already. */
  #stop(): Live | null {
    const state = this.#state;
    if (state.phase === 'ended') return null;
    this.#state = ENDED;
    switch (state.phase) {
      case 'dialing':
        state.dialer?.abort();
        break;
      case 'negotiating':
        clearTimeout(state.timer);
        break;
      case 'handshake':
      case 'connectingTls':
        if (state.timer) clearTimeout(state.timer);
        state.ocsp?.abort();
        break;
      case 'relaying':
        state.relay.stop();
        break;
    }
    return state;
  }

  #end(status: CloseStatus): void {
    const left = this.#stop();
    if (left === null) return;
    const relay = relayOf(left);
    const toTls = relay?.sentToTls ?? 0;
    const toSocket = relay?.sentToSocket ?? 0;
    if (this.wants(5)) {
      const line = `Connection ${status}: ${toTls} byte(s) sent to TLS, ${toSocket} byte(s) sent to socket`;
      if (this.#structured === null) this.say(5, line);
      else this.#structured.record(5, this.id, line, this.#summary(left, status, toTls, toSocket));
    }
    this.#meter?.closed(this.#config.name, status !== 'closed', toTls, toSocket);
    const reset = this.#config.reset;
    this.#closeSides(left, reset && resetsLocal(status), reset && resetsRemote(status));
    this.#finished();
  }

  /** JSON mode: the `Connection closed` object's fields, the connection in one record. */
  #summary(left: Live, status: CloseStatus, toTls: number, toSocket: number): LogFields {
    const tls = left.tls;
    const cipher = tls?.getCipher();
    // The relay starts only after the peer passed verification.
    const verified = left.phase === 'relaying' && (this.#config.tls.verify.chain || this.#config.tls.verify.peer);
    const peerCert = verified ? left.tls.getPeerX509Certificate() : undefined;
    const client = this.#config.client;
    return {
      service: this.#config.name,
      peer: this.#peer,
      event: 'close',
      how: status,
      bytes: { to_tls: toTls, to_socket: toSocket },
      duration_ms: Math.round(performance.now() - this.#openedAt),
      tls_version: tls?.getProtocol() ?? null,
      cipher: cipher?.name ?? null,
      sni: (client ? this.service.tls.servername : (tls as { servername?: string | false } | null)?.servername) || null,
      alpn: tls?.alpnProtocol || null,
      resumed: tls?.isSessionReused() ?? false,
      peer_subject: peerCert ? subjectText(peerCert) : null,
    };
  }

  /**
   * Closes every stream of the phase left once: the accept side (the TLS socket wrapping it
   * in server mode) and the connect side (the TLS socket wrapping it in client mode).
   */
  #closeSides(left: Live, resetLocal: boolean, resetRemote: boolean): void {
    const client = this.#config.client;
    const { tls, far } = left;
    closeStream(!client && tls ? tls : this.#local, this.#localRaw, resetLocal);
    const remoteStream = client && tls ? tls : far?.stream;
    if (remoteStream) closeStream(remoteStream, far?.raw ?? null, resetRemote);
  }

  #finished(): void {
    this.#meter?.ended(this.#acceptedBy);
    this.#host.forget(this);
    this.onFinished?.();
  }

  // ─── listeners and TLS callbacks: one function for every tunnel, found through the stream ───

  /** The options every server-side TLSSocket of a service is made with (callbacks find the tunnel through the socket). */
  static #serverOptions(service: RuntimeService): TLSSocketOptions {
    const tls = service.tls;
    return <TLSSocketOptions & { pskCallback?: unknown; allowHalfOpen?: boolean }>{
      isServer: true,
      // Over a plain Duplex (an exec'd program) the TLS socket takes this; over a net.Socket, the socket's own.
      allowHalfOpen: true,
      // Node asks this object for sessions by id ('newSession'/'resumeSession'); it need not be a real tls.Server.
      server: sessionServer(tls.serverSessions),
      secureContext: tls.secureContext,
      requestCert: tls.requestCert,
      rejectUnauthorized: tls.refuseWithoutCert,
      SNICallback: service.secondaries.length > 0 ? Tunnel.#onSni : undefined,
      pskCallback: tls.psk ? Tunnel.#onServerPsk : undefined,
    };
  }

  static #onStreamError(this: Owned, err: Error): void {
    const tunnel = this[TUNNEL];
    if (tunnel) tunnel.#streamError(this, err);
  }

  static #onStreamClose(this: Owned): void {
    const tunnel = this[TUNNEL];
    if (tunnel) tunnel.#streamClose(this);
  }

  static #onHandshakeEnd(this: Owned): void {
    const tunnel = this[TUNNEL];
    if (tunnel) tunnel.#handshakeEnd();
  }

  static #onServerSecure(this: TLSSocket & Owned): void {
    const tunnel = this[TUNNEL];
    if (tunnel) tunnel.#serverSecure(this);
  }

  static #onClientSecure(this: TLSSocket & Owned): void {
    const tunnel = this[TUNNEL];
    if (tunnel) tunnel.#clientSecure(this);
  }

  static #onClientSession(this: Owned, data: Buffer): void {
    const tunnel = this[TUNNEL];
    if (tunnel) tunnel.#clientSession(data);
  }

  static #onBusyExpired(tunnel: Tunnel): void {
    tunnel.#busyExpired();
  }

  /** SNICallback: Node calls it with the TLSSocket as `this`. */
  static #onSni(this: Owned, servername: string, done: (err: Error | null, ctx?: SecureContext) => void): void {
    const tunnel = this[TUNNEL];
    done(null, tunnel ? tunnel.#pickSni(servername) : undefined);
  }

  /** Server pskCallback: Node passes the TLSSocket. */
  static #onServerPsk(socket: Owned, identity: string): Buffer | null {
    const tunnel = socket[TUNNEL];
    return tunnel ? tunnel.#serverPsk(identity) : null;
  }
}

function noIdentityCheck(): undefined {
  return undefined;
}
