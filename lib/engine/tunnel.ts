/**
 * @module engine/tunnel
 * One connection, from accept to close:
 *
 *   server mode: accepted ─TLS handshake (TIMEOUTbusy)─▶ verified ─dial backend─▶ relaying ─▶ closed | reset
 *     (smtp, pop3: accepted ─dial backend─▶ protocol dialogue ─▶ TLS handshake ─▶ verified ─▶ relaying)
 *   client mode: accepted ─dial remote─▶ [protocol dialogue] ─▶ TLS handshake (TIMEOUTbusy) ─▶ verified ─▶ relaying ─▶ closed | reset
 *
 * Server mode finishes the handshake before dialing, so a client that never completes
 * it cannot hold a backend socket. Every failure ends this tunnel only.
 *
 * The tunnel is driven by events, without promises: each stream it holds points back to
 * it (a symbol property) and carries the same module-level 'error' and 'close' listeners
 * for its whole life; what an event means depends on the tunnel's phase. Lines above
 * the service's `debug` level are never built.
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

const HANDSHAKE = 0;
const DIALING = 1;
const CONNECTING_TLS = 2;
const RELAYING = 3;
const ENDED = 4;
/** Client mode with `protocol = smtp|pop3|imap|connect`: the plain dialogue before the TLS handshake. */
const NEGOTIATING = 5;

/** The options every server-side TLSSocket of a service is made with (callbacks find the tunnel through the socket). */
function serverSocketOptions(service: RuntimeService): TLSSocketOptions {
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
    SNICallback: service.secondaries.length > 0 ? pickSni : undefined,
    pskCallback: tls.psk ? serverPsk : undefined,
  };
}

export class Tunnel implements DialOwner, RelayOwner, Speaker, ProxyHeaderOwner {
  readonly id: string;
  /** The service serving this connection: the accepting one, until a server-side SNI match switches it to a secondary. */
  #service: RuntimeService;
  readonly #host: TunnelHost;
  readonly #local: Owned;
  readonly #localRaw: Socket | null;
  /** The accepting service's `debug`: stunnel 5.68 keeps it for the connection's lines, SNI switch or not. */
  readonly #debugLevel: LogLevel;
  #peer: string | null = null;
  /** The client's address and the one it connected to: the socket's, or what a PROXY header named (`acceptProxy`). */
  #client: ProxiedAddresses | null;
  /** The PROXY header named no client (v2 LOCAL, `PROXY UNKNOWN`): the balancer itself, e.g. a health check. */
  #balancerItself = false;
  #phase = HANDSHAKE;
  #tls: TLSSocket | null = null;
  #remote: Owned | null = null;
  #remoteRaw: Socket | null = null;
  #destination: Destination | null = null;
  #dialer: Dialer | null = null;
  #relay: Relay | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** A pending OCSP check (tls/ocsp): aborted when the tunnel ends. */
  #ocspAbort: AbortController | null = null;
  readonly #meter: TunnelMeter | null;
  /** The accepting section's name: the active-connections gauge's label, SNI switch or not. */
  readonly #acceptedBy: string;
  /** `logFormat = json`: lines go out with their fields (null in text mode). */
  readonly #structured: StructuredWriter | null;
  /** performance.now() at accept, for the JSON summary's duration (JSON mode only). */
  #openedAt = 0;
  /** performance.now() when the handshake / the backend dial began (kept only with a meter). */
  #handshakeAt = 0;
  #dialAt = 0;
  /** Client mode: the server was judged and accepted on this connection (only then is its session kept). */
  #peerAccepted = false;
  /** Server mode: the handshake was keyed by one of our PSKsecrets (not a resumption). */
  #externalPsk = false;
  /** Client mode: this connection offered a session from the cache of accepted servers. */
  #offeredSession = false;
  /** Client mode: a session Node gave us before the verdict, kept only if the peer is accepted. */
  #pendingSession: Buffer | null = null;
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
  get config(): ServiceConfig {
    return this.#service.config;
  }

  /**
   * The client, for everything that names it (log lines, fail2ban, exec's REMOTE_HOST, the
   * PROXY header to the backend, metrics): the accepted socket's peer, or the address a
   * PROXY header named. null for clients without an address (pipes, Unix sockets).
   */
  get client(): ProxiedAddresses | null {
    return this.#client;
  }

  get sentToTls(): number {
    return this.#relay?.sentToTls ?? 0;
  }

  get sentToSocket(): number {
    return this.#relay?.sentToSocket ?? 0;
  }

  /** Bytes Node holds for this tunnel right now (0 before relaying). */
  get bufferedBytes(): number {
    return this.#relay?.bufferedBytes ?? 0;
  }

  /** `127.0.0.1:51886` of the accepted client, '' when it has no address (pipes). */
  get peer(): string {
    this.#peer ??= this.#client ? peerText({ remoteAddress: this.#client.address, remotePort: this.#client.port })
      : this.#localRaw ? peerText(this.#localRaw) : '';
    return this.#peer;
  }

  /**
   * Who a failed handshake is blamed on, in the `(from ADDR:PORT)` that fail2ban bans on. A
   * connection of the balancer itself (a health check hanging up mid-handshake) is marked, so
   * that the filter, anchored on `(from ADDR:PORT)`, never bans the balancer.
   */
  get #failedFrom(): string {
    return this.#balancerItself ? `${this.peer}, PROXY LOCAL` : this.peer;
  }

  /** Would a line at `level` be logged? */
  wants(level: LogLevel): boolean {
    return level <= this.#debugLevel;
  }

  /** Writes a connection line when the service's `debug` level lets it through. */
  say(level: LogLevel, text: string): void {
    if (level > this.#debugLevel) return;
    if (this.#structured === null) this.#host.log.write(level, this.id, text);
    else this.#structured.record(level, this.id, text, { service: this.config.name, peer: this.peer, event: 'log' });
  }

  /** Starts serving; everything after this is driven by events. */
  start(): void {
    // stunnel's first line of every connection (its thread start); its test suite waits on it in inetd mode.
    if (this.wants(7)) this.say(7, `Service [${this.config.name}] started`);
    if (this.config.acceptProxy && this.#localRaw) {
      readProxyHeader(this.#localRaw, this, Math.max(0, this.config.timeouts.busy) * 1000);
      return;
    }
    this.#begin();
  }

  /** ProxyHeaderOwner: the balancer's header named the client (or none: the connection's own addresses stand). */
  proxyHeaderRead(client: ProxiedAddresses | null): void {
    if (this.#phase === ENDED) return;
    if (client) {
      this.#client = client;
      this.#peer = null;
    } else {
      this.#balancerItself = true;
    }
    this.#begin();
  }

  /** ProxyHeaderOwner: no valid header; the connection is dropped without a word back. */
  proxyHeaderRefused(reason: string): void {
    if (this.#phase === ENDED) return;
    const real = this.#localRaw ? peerText(this.#localRaw) : '';
    this.say(3, `Service [${this.config.name}]: PROXY header refused from ${real}: ${reason}`);
    this.kill();
  }

  #begin(): void {
    const name = this.config.name;
    if (this.wants(5)) {
      this.say(5, this.peer ? `Service [${name}] accepted connection from ${this.peer}` : `Service [${name}] accepted connection`);
    }
    if (this.config.client || isServerProtocol(this.config.protocol)) {
      // Client mode, or a server-mode protocol that needs the backend's greeting before TLS.
      this.#watch(this.#local);
      this.#phase = DIALING;
      this.#openRemote(this.config.connect);
    } else if (this.config.protocol === 'pgsql') {
      this.#pgsqlServer();
    } else {
      this.#serverHandshake();
    }
  }

  /** Drops the tunnel without its `Connection closed` line (shutdown, as stunnel on TERM). */
  kill(): void {
    if (this.#phase === ENDED) return;
    this.#stopAll();
    this.#closeSides(false, false);
    this.#finished();
  }

  // ─── server mode ───────────────────────────────────────────────────────────

  #serverHandshake(): void {
    const options = this.service.serverOptions ??= serverSocketOptions(this.service);
    const socket = new TLSSocket(this.#local, options) as TLSSocket & Owned;
    watchClientHello(socket);
    this.#awaitHandshake(socket, 'secure', onServerSecure);
  }

  /** Watches a new TLS socket until `doneEvent`, its EOF, or TIMEOUTbusy. */
  #awaitHandshake(socket: TLSSocket & Owned, doneEvent: string, onDone: (this: Owned) => void): void {
    this.#tls = socket;
    this.#watch(socket);
    if (this.#meter) this.#handshakeAt = performance.now();
    socket.on(doneEvent, onDone);
    socket.on('end', onHandshakeEnd);
    this.#armBusyTimer();
  }

  /** TIMEOUTbusy: how long the peer may keep us waiting for the handshake or the protocol dialogue. */
  #armBusyTimer(): void {
    this.#timer = setTimeout(onBusyExpired, Math.max(0, this.config.timeouts.busy) * 1000, this);
  }

  /** The handshake finished: stop watching for it; false when the tunnel has moved on meanwhile. */
  #handshakeDone(doneEvent: string, onDone: (this: Owned) => void, phase: number): boolean {
    const tls = this.#tls!;
    tls.removeListener(doneEvent, onDone);
    tls.removeListener('end', onHandshakeEnd);
    if (this.#phase !== phase) return false;
    this.#clearTimer();
    this.#describeHandshake(tls, phase === HANDSHAKE);
    return true;
  }

  /** A handshake that succeeded (peer verified), to the meter. */
  #metered(tls: TLSSocket): void {
    this.#meter!.handshakeDone(this.config.name, (performance.now() - this.#handshakeAt) / 1000, tls.isSessionReused());
  }

  /** A handshake that failed, to the meter. */
  #handshakeLost(reason: HandshakeFailure): void {
    this.#meter?.handshakeFailed(this.config.name, reason);
  }

  /** TLSSocket 'secure': the server handshake is done. */
  serverSecure(): void {
    if (!this.#handshakeDone('secure', onServerSecure, HANDSHAKE)) return;
    const tls = this.#tls!;
    releaseTlsErrors(tls);
    this.#judgePeer(tls, this.service.tls.requestCert, (accepted) => this.#serverVerdict(accepted));
  }

  /** The client's certificate is judged (and checked with OCSP): refuse, redirect or go on. */
  #serverVerdict(accepted: boolean): void {
    if (this.#phase !== HANDSHAKE) return;
    const tls = this.#tls!;
    let targets = this.config.connect;
    // After a protocol dialogue the backend is connected already: no redirect then.
    const connected = this.#remote !== null;
    if (!accepted) {
      if (this.config.redirect.length === 0 || connected) {
        this.say(3, `SSL_accept: error:0A000086:SSL routines::certificate verify failed (from ${this.#failedFrom})`);
        this.#handshakeLost('verify');
        return this.#end(tlsToldStatus(false));
      }
      this.say(5, 'Redirecting connection');
      targets = this.config.redirect;
    }
    if (this.#meter) this.#metered(tls);
    if (connected) return this.#startRelay(tls, this.#remote!);
    if (this.config.protocol === 'socks') return this.#socks(tls);
    this.#phase = DIALING;
    this.#openRemote(targets);
  }

  /**
   * The peer's certificate judged (tls/verify; `judge` false: nothing asked, nothing to judge),
   * then checked with OCSP when configured (tls/ocsp, asynchronous): `then` gets the verdict.
   */
  #judgePeer(tls: TLSSocket, judge: boolean, then: (accepted: boolean) => void): void {
    const config = this.config.tls;
    const chain = ocspChain(tls, config); // before judgePeer: see ocspChain
    const accepted = !judge || judgePeer(tls, config, this.service.tls.trusted, this);
    if (accepted && chain) void this.#checkRevocation(chain).then(then);
    else then(accepted);
  }

  /** OCSP (tls/ocsp), bounded by TIMEOUTconnect/TIMEOUTbusy and abandoned when the tunnel ends. */
  #checkRevocation(chain: X509Certificate[]): Promise<boolean> {
    const abort = this.#ocspAbort = new AbortController();
    const config = this.config;
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
  pickSni(servername: string): SecureContext | undefined {
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
    setVerifyMode(this.#tls!, secondary.tls.requestCert, secondary.tls.refuseWithoutCert);
    this.#clearTimer();
    this.#armBusyTimer();
    return secondary.tls.secureContext;
  }

  serverPsk(identity: string): Buffer | null {
    const key = this.service.tls.psk?.get(identity) ?? null;
    if (!key) this.say(3, `PSK identity not found (session ${identity})`);
    else {
      this.#externalPsk = true;
      this.say(5, `Key configured for PSK identity "${identity}"`);
    }
    return key;
  }

  // ─── the far side ──────────────────────────────────────────────────────────

  /** The far endpoint: the exec'd program, or a dialed socket (resolving names first with `delay`). */
  #openRemote(targets: ServiceConfig['connect']): void {
    const config = this.config;
    if (config.exec && targets.length === 0) {
      const cert = this.#tls?.getPeerX509Certificate();
      const stream = startExec(config, {
        host: this.#client?.address ?? '', port: this.#client?.port ?? 0,
        subject: cert ? subjectText(cert) : undefined, issuer: cert ? cert.issuer.split('\n').reverse().join(',') : undefined,
      }, this);
      this.#remote = stream;
      this.#watch(stream);
      this.#remoteReady();
      return;
    }
    const known = targets === config.connect ? this.service.destinations : literalDestinations(targets);
    if (known) {
      this.#dial(known);
      return;
    }
    resolveTargets(targets, this).then((list) => {
      if (this.#phase === DIALING) this.#dial(list);
    }, (err) => this.#internalError(err));
  }

  #dial(destinations: readonly Destination[]): void {
    const config = this.config;
    const start = config.failover === 'rr' && !config.delay ? this.service.rrNext++ : 0;
    if (this.#meter) this.#dialAt = performance.now();
    this.#dialer = new Dialer(this, config, destinations, start, this.service.remoteSetup);
    this.#dialer.next();
  }

  /** DialOwner: the remote socket answered (options applied), or nothing did. */
  dialed(socket: Socket | null, destination: Destination | null): void {
    this.#dialer = null;
    if (this.#phase !== DIALING) {
      socket?.destroy();
      return;
    }
    if (this.#meter) {
      const seconds = (performance.now() - this.#dialAt) / 1000;
      if (socket) this.#meter.backendConnected(seconds);
      else this.#meter.backendFailed(this.config.name, seconds);
    }
    if (!socket) return this.#end('reset');
    this.#remote = socket;
    this.#remoteRaw = socket;
    this.#destination = destination;
    if (this.wants(5)) this.say(5, `Service [${this.config.name}] connected remote server from ${socket.localAddress}:${socket.localPort}`);
    this.#remoteReady();
  }

  /** DialOwner: a remote socket failed with EMFILE/ENFILE. */
  descriptorShortage(): void {
    this.#host.descriptorShortage();
  }

  #remoteReady(): void {
    if (this.config.client) {
      const protocol = this.config.protocol;
      if (isClientProtocol(protocol)) this.#negotiate(protocol, this.#remote!);
      else this.#clientHandshake(this.#remote!);
      return;
    }
    if (this.#remoteRaw) this.#watch(this.#remoteRaw);
    const protocol = this.config.protocol;
    if (isServerProtocol(protocol) && this.#tls === null) return this.#negotiateAsServer(protocol);
    if (protocol === 'proxy') {
      const v2 = this.config.proxyVersion === 2;
      this.#remote!.write(v2 ? proxyV2(this.#client, this.#tls ? tlsFacts(this.#tls, this.config.tls) : null) : proxyV1(this.#client));
    }
    this.#startRelay(this.#tls!, this.#remote!);
  }

  /** Server mode pgsql: the client's SSLRequest answered before the handshake, before any backend. */
  #pgsqlServer(): void {
    this.#watch(this.#local);
    this.#talkBeforeHandshake(pgsqlServer(this.#local, this));
  }

  /** Server mode socks: the client's request inside TLS names the destination (TIMEOUTbusy applies). */
  #socks(tls: TLSSocket): void {
    this.#phase = NEGOTIATING;
    this.#armBusyTimer();
    socksRequest(tls, this).then((result) => {
      if (this.#phase !== NEGOTIATING) return;
      this.#clearTimer();
      if ('status' in result) return this.#refused(result);
      this.#phase = DIALING;
      this.#dial(result);
    }, (err) => this.#internalError(err));
  }

  /** Server mode smtp/pop3: the dialogue with the plain client for the connected backend, then the handshake. */
  #negotiateAsServer(protocol: ServerProtocol): void {
    this.#talkBeforeHandshake(negotiateAsServer(protocol, this.config.protocolSettings, this.#remote!, this.#local, this));
  }

  /**
   * A server-mode dialogue with the plain client, already under way (TIMEOUTbusy applies):
   * when it succeeds, the TLS handshake on the client's socket; else the refusal.
   */
  #talkBeforeHandshake(dialogue: Promise<NegotiationFailure | null>): void {
    this.#phase = NEGOTIATING;
    this.#armBusyTimer();
    dialogue.then((failure) => {
      if (this.#phase !== NEGOTIATING) return;
      this.#clearTimer();
      if (failure !== null) return this.#refused(failure);
      // The TLS socket takes the client's socket over, with its own listeners.
      this.#unwatch(this.#local);
      this.#phase = HANDSHAKE;
      this.#serverHandshake();
    }, (err) => this.#internalError(err));
  }

  /** A dialogue before the relay failed: its LOG3 line (unless logged already), and the end. */
  #refused(failure: NegotiationFailure): void {
    if (failure.text !== null) this.say(3, failure.text);
    this.#end(failure.status);
  }

  // ─── client mode ───────────────────────────────────────────────────────────

  /** The protocol's dialogue on the plain `remote` (TIMEOUTbusy applies), then the handshake. */
  #negotiate(protocol: ClientProtocol, remote: Duplex): void {
    this.#phase = NEGOTIATING;
    this.#armBusyTimer();
    negotiate(protocol, this.config.protocolSettings, remote, this.#local, this).then((failure) => {
      if (this.#phase !== NEGOTIATING) return;
      this.#clearTimer();
      if (failure === null) {
        // Through an HTTP proxy, the TLS side's end must not half-close the TCP connection early.
        const raw = this.#remoteRaw;
        return this.#clientHandshake(protocol === 'connect' && raw ? heldFinCarrier(raw) : remote);
      }
      this.#refused(failure);
    }, (err) => this.#internalError(err));
  }

  #clientHandshake(remote: Duplex): void {
    const tls = this.service.tls;
    const target = this.#destination?.text ?? null;
    const session = target ? tls.clientSessions?.get(target) : undefined;
    this.#offeredSession = session !== undefined;
    if (tls.servername && this.wants(6)) this.say(6, `SNI: sending servername: ${tls.servername}`);
    const socket = tlsConnect({
      socket: remote,
      secureContext: tls.secureContext,
      servername: tls.servername,
      session,
      rejectUnauthorized: false,
      checkServerIdentity: noIdentityCheck,
      // tls.connect may build the ClientHello before it returns, before the socket points back
      // here: the (rare) PSK client gets a callback of its own.
      pskCallback: tls.psk ? () => this.clientPsk() : undefined,
      allowHalfOpen: true,
    } as ConnectionOptions) as TLSSocket & Owned;
    this.#phase = CONNECTING_TLS;
    this.#awaitHandshake(socket, 'secureConnect', onClientSecure);
    if (tls.clientSessions && target) socket.on('session', onClientSession);
  }

  /** TLSSocket 'secureConnect': the client handshake is done. */
  clientSecure(): void {
    if (!this.#handshakeDone('secureConnect', onClientSecure, CONNECTING_TLS)) return;
    const tls = this.#tls!;
    // The client cache holds sessions of accepted servers only, and a server can resume only a
    // session we offered: a resumed session carries that verdict (OpenSSL does not keep the
    // server's chain in a client session, so it cannot be judged again).
    const verdictCarried = this.#offeredSession && tls.isSessionReused();
    this.#judgePeer(tls, !verdictCarried, (accepted) => this.#clientVerdict(accepted));
  }

  #clientVerdict(accepted: boolean): void {
    if (this.#phase !== CONNECTING_TLS) return;
    if (!accepted) {
      this.say(3, 'SSL_connect: error:0A000086:SSL routines::certificate verify failed');
      this.#handshakeLost('verify');
      return this.#end(tlsToldStatus(true));
    }
    this.#peerAccepted = true;
    if (this.#pendingSession) this.clientSession(this.#pendingSession);
    const tls = this.#tls!;
    if (this.#meter) this.#metered(tls);
    this.#startRelay(tls, this.#local);
  }

  /** TLSSocket 'session': kept for the next connection only once this server was accepted. */
  clientSession(data: Buffer): void {
    if (!this.#peerAccepted) {
      this.#pendingSession = data;
      return;
    }
    this.#pendingSession = null;
    const target = this.#destination?.text;
    if (target) this.service.tls.clientSessions?.set(target, data);
  }

  clientPsk(): { psk: Buffer; identity: string } | null {
    const tls = this.service.tls;
    const identity = tls.pskIdentity;
    const psk = identity !== null ? tls.psk?.get(identity) : undefined;
    if (!psk || identity === null) return null;
    this.say(6, `PSK client configured for identity "${identity}"`);
    return { psk, identity };
  }

  // ─── relaying and ending ───────────────────────────────────────────────────

  #describeHandshake(tls: TLSSocket, server: boolean): void {
    // stunnel 5.68 skips these when the service in force (an SNI secondary) logs below info,
    // and writes them, like every line, at the accepting service's level.
    if (this.config.debugLevel < 6 || !this.wants(6)) return;
    this.say(6, sessionLine(tls, server, server && this.#externalPsk));
    this.say(6, cipherLine(tls));
  }

  #startRelay(tls: Duplex, plain: Duplex): void {
    if (this.#phase === ENDED) return;
    this.#phase = RELAYING;
    this.#relay = new Relay(tls, plain, this.config.timeouts, this, this.config.client);
  }

  /** RelayOwner: the relay has ended. */
  relayDone(status: CloseStatus): void {
    this.#end(status);
  }

  /** Every stream the tunnel holds carries these two listeners for its whole life. */
  #watch(stream: Owned): void {
    stream[TUNNEL] = this;
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
  }

  #unwatch(stream: Owned): void {
    stream.off('error', onStreamError);
    stream.off('close', onStreamClose);
  }

  /** An error on one of our streams: what it means depends on the phase. */
  streamError(stream: Duplex, err: Error): void {
    switch (this.#phase) {
      case ENDED:
        return;
      case RELAYING:
        this.#relay!.failed(stream, err);
        return;
      case HANDSHAKE:
      case CONNECTING_TLS:
        if (stream === this.#tls) return this.#handshakeFailed(err);
        break;
    }
    // Before relaying: a peer leaving is a normal end, anything else a reset.
    if (isPeerDisconnect(err)) {
      if (this.wants(6)) this.say(6, `${stream === this.#tls ? 'TLS fd' : 'socket fd'}: ${errnoText(err)}`);
      return this.#end('closed');
    }
    this.say(3, `Connection lost before transfer: ${errnoText(err)}`);
    this.#end('reset');
  }

  /** The TLS peer's EOF before the handshake finished. */
  handshakeEnd(): void {
    if (this.#phase === HANDSHAKE || this.#phase === CONNECTING_TLS) this.streamClose(this.#tls!);
  }

  /** A stream closed: during the handshake that is the peer's EOF; while relaying the relay decides. */
  streamClose(stream: Duplex): void {
    switch (this.#phase) {
      case ENDED:
        return;
      case RELAYING:
        this.#relay!.closed(stream);
        return;
      case NEGOTIATING:
        if (stream === this.#remote) {
          this.say(3, 's_read: Unexpected socket close');
          return this.#end('reset');
        }
        break;
      case HANDSHAKE:
      case CONNECTING_TLS:
        if (stream === this.#tls) {
          const operation = this.#phase === HANDSHAKE ? 'SSL_accept' : 'SSL_connect';
          this.say(3, `${operation}: ${UNEXPECTED_EOF}${this.#phase === HANDSHAKE ? ` (from ${this.#failedFrom})` : ''}`);
          this.#handshakeLost('eof');
          return this.#end(tlsToldStatus(this.#phase === CONNECTING_TLS));
        }
        break;
    }
    this.#end('closed');
  }

  #handshakeFailed(err: Error): void {
    const server = this.#phase === HANDSHAKE;
    const code = (err as NodeJS.ErrnoException).code;
    const text = typeof code === 'string' && !code.startsWith('ERR_') ? errnoText(err) : tlsErrorText(err);
    this.say(3, server ? `SSL_accept: ${text} (from ${this.#failedFrom})` : `SSL_connect: ${text}`);
    this.#handshakeLost(handshakeFailureOf(err));
    this.#end(alertExchanged(err) ? tlsToldStatus(!server) : 'reset');
  }

  busyExpired(): void {
    this.#timer = null;
    // stunnel names the read it was waiting in: a STARTTLS reply, or the TLS handshake.
    this.say(6, `${this.#phase === NEGOTIATING ? 's_read_eof' : 'ssl_start'}: s_poll_wait: TIMEOUTbusy exceeded: sending reset`);
    if (this.#phase === HANDSHAKE || this.#phase === CONNECTING_TLS) this.#handshakeLost('timeout');
    this.#end('reset');
  }

  #internalError(err: unknown): void {
    this.say(3, `INTERNAL ERROR: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    this.#end('reset');
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #stopAll(): void {
    this.#phase = ENDED;
    this.#clearTimer();
    this.#ocspAbort?.abort();
    this.#dialer?.abort();
    this.#dialer = null;
    this.#relay?.stop();
  }

  #end(status: CloseStatus): void {
    if (this.#phase === ENDED) return;
    this.#stopAll();
    if (this.wants(5)) {
      const line = `Connection ${status}: ${this.sentToTls} byte(s) sent to TLS, ${this.sentToSocket} byte(s) sent to socket`;
      if (this.#structured === null) this.say(5, line);
      else this.#structured.record(5, this.id, line, this.#summary(status));
    }
    this.#meter?.closed(this.config.name, status !== 'closed', this.sentToTls, this.sentToSocket);
    const reset = this.config.reset;
    this.#closeSides(reset && resetsLocal(status), reset && resetsRemote(status));
    this.#finished();
  }

  /** JSON mode: the `Connection closed` object's fields, the connection in one record. */
  #summary(status: CloseStatus): LogFields {
    const tls = this.#tls;
    const cipher = tls?.getCipher();
    // The relay starts only after the peer passed verification.
    const verified = tls !== null && this.#relay !== null && (this.config.tls.verify.chain || this.config.tls.verify.peer);
    const peerCert = verified ? tls.getPeerX509Certificate() : undefined;
    const client = this.config.client;
    return {
      service: this.config.name,
      peer: this.peer,
      event: 'close',
      how: status,
      bytes: { to_tls: this.sentToTls, to_socket: this.sentToSocket },
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
   * Closes every stream once: the accept side (the TLS socket wrapping it in server mode)
   * and the connect side (the TLS socket wrapping it in client mode).
   */
  #closeSides(resetLocal: boolean, resetRemote: boolean): void {
    const client = this.config.client;
    const localStream = !client && this.#tls ? this.#tls : this.#local;
    closeStream(localStream, this.#localRaw, resetLocal);
    const remoteStream = client && this.#tls ? this.#tls : this.#remote;
    if (remoteStream) closeStream(remoteStream, this.#remoteRaw, resetRemote);
  }

  #finished(): void {
    this.#meter?.ended(this.#acceptedBy);
    this.#host.forget(this);
    this.onFinished?.();
  }
}

function onStreamError(this: Owned, err: Error): void {
  this[TUNNEL]?.streamError(this, err);
}

function onStreamClose(this: Owned): void {
  this[TUNNEL]?.streamClose(this);
}

function onHandshakeEnd(this: Owned): void {
  this[TUNNEL]?.handshakeEnd();
}

function onServerSecure(this: Owned): void {
  this[TUNNEL]?.serverSecure();
}

function onClientSecure(this: Owned): void {
  this[TUNNEL]?.clientSecure();
}

function onClientSession(this: Owned, data: Buffer): void {
  this[TUNNEL]?.clientSession(data);
}

function onBusyExpired(tunnel: Tunnel): void {
  tunnel.busyExpired();
}

/** SNICallback: Node calls it with the TLSSocket as `this`. */
function pickSni(this: Owned, servername: string, done: (err: Error | null, ctx?: SecureContext) => void): void {
  done(null, this[TUNNEL]?.pickSni(servername));
}

/** Server pskCallback: Node passes the TLSSocket. */
function serverPsk(socket: Owned, identity: string): Buffer | null {
  return socket[TUNNEL]?.serverPsk(identity) ?? null;
}

function noIdentityCheck(): undefined {
  return undefined;
}
