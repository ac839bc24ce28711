/**
 * @module engine/tunnel
 * One connection, from accept to close:
 *
 *   server mode: accepted ─TLS handshake (TIMEOUTbusy)─▶ verified ─dial backend─▶ relaying ─▶ closed | reset
 *   client mode: accepted ─dial remote─▶ TLS handshake (TIMEOUTbusy) ─▶ verified ─▶ relaying ─▶ closed | reset
 *
 * Server mode finishes the handshake before dialing, so a client that never completes
 * it cannot hold a backend socket. Every failure ends this tunnel only.
 */
import { Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type SecureContext, type Server as TlsServer, type TLSSocketOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { LogLevel } from '../config/model';
import type { LogWriter } from '../log';
import { cipherLine, handshakeErrorText, sessionLine } from '../tls/describe';
import { judgePeer, subjectText } from '../tls/verify';
import { peerText } from './address';
import { dial, resolveTargets, type DialHandle } from './connect';
import { startExec } from './exec';
import { Relay, type CloseStatus } from './relay';
import { sniSecondary, type RuntimeService } from './service';
import { closeStream } from './teardown';

/** What a tunnel needs from the engine. */
export interface TunnelHost {
  readonly log: LogWriter;
  /** Called once when the tunnel has ended (logged or killed). */
  forget(tunnel: Tunnel): void;
}

interface Endpoint {
  readonly stream: Duplex;
  /** The TCP socket underneath (for resets and addresses), if there is one. */
  readonly raw: Socket | null;
}

const UNEXPECTED_EOF = 'error:0A000126:SSL routines::unexpected eof while reading';

function proxyHeader(client: Socket | null): string {
  if (!client?.remoteAddress || !client.localAddress) return 'PROXY UNKNOWN\r\n';
  const family = client.remoteAddress.includes(':') ? 'TCP6' : 'TCP4';
  return `PROXY ${family} ${client.remoteAddress} ${client.localAddress} ${client.remotePort} ${client.localPort}\r\n`;
}

export class Tunnel {
  readonly id: string;
  /** The service serving this connection (a server-side SNI match switches it to the secondary). */
  service: RuntimeService;
  readonly #host: TunnelHost;
  readonly #local: Endpoint;
  readonly #peer: string;
  readonly #debugLevel: LogLevel;
  readonly #dial: DialHandle = { current: null, aborted: false, connected: null };
  #tlsSide: Endpoint | null = null;
  #plainSide: Endpoint | null = null;
  #remote: Endpoint | null = null;
  #relay: Relay | null = null;
  #busyTimer: NodeJS.Timeout | null = null;
  #ended = false;
  #markFinished!: () => void;
  /** Settles when the tunnel has ended, whichever way. */
  readonly finished = new Promise<void>((resolve) => { this.#markFinished = resolve; });

  constructor(host: TunnelHost, service: RuntimeService, id: string, local: Duplex) {
    this.#host = host;
    this.service = service;
    this.id = id;
    this.#local = { stream: local, raw: local instanceof Socket ? local : null };
    this.#peer = this.#local.raw ? peerText(this.#local.raw) : '';
    this.#debugLevel = service.config.debugLevel;
  }

  get sentToTls(): number {
    return this.#relay?.sentToTls ?? 0;
  }

  get sentToSocket(): number {
    return this.#relay?.sentToSocket ?? 0;
  }

  /** Writes a connection line when the service's `debug` level lets it through. */
  readonly say = (level: LogLevel, text: string): void => {
    if (level <= this.#debugLevel) this.#host.log.write(level, this.id, text);
  };

  /** Runs the tunnel; never rejects. */
  async run(): Promise<void> {
    const name = this.service.config.name;
    this.say(5, this.#peer ? `Service [${name}] accepted connection from ${this.#peer}` : `Service [${name}] accepted connection`);
    if (this.service.config.client) {
      // The plain client may leave while we dial; in server mode the handshake watches the socket.
      this.#local.stream.on('error', this.#earlyError);
      this.#local.stream.on('close', this.#earlyClose);
    }
    try {
      if (this.service.config.client) await this.#runClient();
      else await this.#runServer();
    } catch (err) {
      this.say(3, `INTERNAL ERROR: ${(err as Error).stack ?? err}`);
      this.#end('reset');
    }
  }

  /** Drops the tunnel without its `Connection closed` line (shutdown, as stunnel on TERM). */
  kill(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#dial.aborted = true;
    this.#dial.current?.destroy();
    this.#cleanup();
    for (const side of this.#sides()) closeStream(side.stream, side.raw, false);
    this.#host.forget(this);
    this.#markFinished();
  }

  async #runServer(): Promise<void> {
    const tls = await this.#serverHandshake();
    if (!tls) return;
    let targets = this.service.config.connect;
    if (this.service.tls.requestCert && !judgePeer(tls, this.service.config.tls, this.service.tls.trusted, this.say)) {
      if (this.service.config.redirect.length === 0) {
        this.say(3, `SSL_accept: error:0A000086:SSL routines::certificate verify failed (from ${this.#peer})`);
        return this.#end('reset');
      }
      this.say(5, 'Redirecting connection');
      targets = this.service.config.redirect;
    }
    const remote = await this.#openRemote(targets, tls);
    if (!remote) return this.#end('reset');
    if (this.service.config.protocol === 'proxy') remote.stream.write(proxyHeader(this.#local.raw));
    this.#startRelay({ stream: tls, raw: this.#local.raw }, remote);
  }

  async #runClient(): Promise<void> {
    const remote = await this.#openRemote(this.service.config.connect, null);
    if (!remote) return this.#end('reset');
    const tls = await this.#clientHandshake(remote);
    if (!tls) return;
    if (!judgePeer(tls, this.service.config.tls, this.service.tls.trusted, this.say)) {
      this.say(3, 'SSL_connect: error:0A000086:SSL routines::certificate verify failed');
      return this.#end('reset');
    }
    this.#startRelay({ stream: tls, raw: remote.raw }, this.#local);
  }

  /** TLS server handshake on the accepted socket, under TIMEOUTbusy. Resolves null when it failed (already ended). */
  #serverHandshake(): Promise<TLSSocket | null> {
    const svc = this.service;
    const raw = this.#local.stream;
    const socket = new TLSSocket(raw as Socket, <TLSSocketOptions & { pskCallback?: unknown }>{
      isServer: true,
      // Node asks this object for sessions by id ('newSession'/'resumeSession'); it need not be a real tls.Server.
      server: (svc.tls.serverSessions ?? undefined) as unknown as TlsServer | undefined,
      secureContext: svc.tls.secureContext,
      requestCert: svc.tls.requestCert,
      rejectUnauthorized: svc.tls.refuseWithoutCert,
      SNICallback: svc.secondaries.length > 0 ? this.#pickSni : undefined,
      pskCallback: svc.tls.psk ? this.#serverPsk : undefined,
    });
    this.#tlsSide = { stream: socket, raw: this.#local.raw };
    return this.#handshake(socket, 'secure', 'SSL_accept', ` (from ${this.#peer})`);
  }

  #clientHandshake(remote: Endpoint): Promise<TLSSocket | null> {
    const tls = this.service.tls;
    const session = this.#dial.connected ? tls.clientSessions?.get(this.#dial.connected) : undefined;
    if (tls.servername) this.say(6, `SNI: sending servername: ${tls.servername}`);
    const socket = tlsConnect({
      socket: remote.stream,
      secureContext: tls.secureContext,
      servername: tls.servername,
      session,
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      pskCallback: tls.psk ? this.#clientPsk : undefined,
    });
    const target = this.#dial.connected;
    if (tls.clientSessions && target) {
      const cache = tls.clientSessions;
      socket.on('session', (data: Buffer) => cache.set(target, data));
    }
    this.#tlsSide = { stream: socket, raw: remote.raw };
    return this.#handshake(socket, 'secureConnect', 'SSL_connect', '');
  }

  /** Waits for `doneEvent`; on error, EOF or TIMEOUTbusy logs stunnel's lines and ends the tunnel with a reset. */
  #handshake(socket: TLSSocket, doneEvent: string, operation: string, suffix: string): Promise<TLSSocket | null> {
    return new Promise((resolve) => {
      const settle = (ok: boolean, failure?: string): void => {
        if (this.#busyTimer) clearTimeout(this.#busyTimer);
        this.#busyTimer = null;
        socket.removeListener('error', onError);
        socket.removeListener('close', onClose);
        socket.removeListener(doneEvent, onDone);
        if (ok) {
          socket.on('error', this.#earlyError);
          socket.on('close', this.#earlyClose);
          resolve(socket);
          return;
        }
        if (failure) this.say(3, `${operation}: ${failure}${suffix}`);
        this.#end('reset');
        resolve(null);
      };
      const onError = (err: Error) => settle(false, handshakeErrorText(err));
      const onClose = () => settle(false, UNEXPECTED_EOF);
      const onDone = () => {
        // Hold what the peer sends until the relay reads it (Node may have set the stream flowing).
        socket.pause();
        if (this.#ended) return settle(false);
        this.say(6, sessionLine(socket, doneEvent === 'secure'));
        this.say(6, cipherLine(socket));
        settle(true);
      };
      this.#busyTimer = setTimeout(() => {
        this.say(6, 'ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset');
        settle(false);
      }, Math.max(0, this.service.config.timeouts.busy) * 1000);
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once(doneEvent, onDone);
    });
  }

  /** Server-side SNI: switch to the secondary service whose pattern matches. */
  #pickSni = (servername: string, done: (err: Error | null, ctx?: SecureContext) => void): void => {
    this.say(6, `SNI: requested servername: ${servername}`);
    const secondary = sniSecondary(this.service, servername);
    if (!secondary) {
      this.say(3, `SNI: no pattern matched servername: ${servername}`);
      done(null, undefined);
      return;
    }
    this.say(7, `SNI: matched pattern: ${secondary.config.sniPattern}`);
    this.say(5, `SNI: switched to service [${secondary.config.name}]`);
    this.service = secondary;
    done(null, secondary.tls.secureContext);
  };

  #serverPsk = (_socket: TLSSocket, identity: string): Buffer | null => {
    const key = this.service.tls.psk?.get(identity) ?? null;
    if (!key) this.say(3, `PSK identity not found (session ${identity})`);
    else this.say(6, `PSK client identity: ${identity}`);
    return key;
  };

  #clientPsk = (): { psk: Buffer; identity: string } | null => {
    const tls = this.service.tls;
    const identity = tls.pskIdentity;
    const psk = identity !== null ? tls.psk?.get(identity) : undefined;
    if (!psk || identity === null) return null;
    return { psk, identity };
  };

  /** The far endpoint: the exec'd program or a dialed socket. Null when none answered (already logged). */
  async #openRemote(targets: RuntimeService['config']['connect'], tls: TLSSocket | null): Promise<Endpoint | null> {
    const config = this.service.config;
    if (config.exec && targets.length === 0) {
      const cert = tls?.getPeerX509Certificate();
      const stream = startExec(config, {
        host: this.#local.raw?.remoteAddress ?? '', port: this.#local.raw?.remotePort ?? 0,
        subject: cert ? subjectText(cert) : undefined, issuer: cert ? cert.issuer.split('\n').reverse().join(',') : undefined,
      }, this.say);
      this.#remote = { stream, raw: null };
      return this.#ended ? null : this.#remote;
    }
    const destinations = await resolveTargets(targets, this.say);
    if (this.#ended) return null;
    const start = config.failover === 'rr' && !config.delay ? this.service.rrNext++ : 0;
    const socket = await dial(destinations, start, config, this.#dial, this.say);
    if (!socket || this.#ended) return null;
    this.#remote = { stream: socket, raw: socket };
    this.say(5, `Service [${config.name}] connected remote server from ${socket.localAddress}:${socket.localPort}`);
    socket.on('error', this.#earlyError);
    socket.on('close', this.#earlyClose);
    return this.#remote;
  }

  #startRelay(tls: Endpoint, plain: Endpoint): void {
    if (this.#ended) return;
    this.#cleanup();
    this.#tlsSide = tls;
    this.#plainSide = plain;
    this.#relay = new Relay(tls.stream, plain.stream, this.service.config.timeouts, this.say, this.#end);
  }

  /** Before relaying: a side failing or closing ends the tunnel with a reset. */
  #earlyError = (err: Error): void => {
    this.say(6, `Connection lost before transfer: ${err.message}`);
    this.#end('reset');
  };

  #earlyClose = (): void => {
    this.#end('reset');
  };

  #cleanup(): void {
    if (this.#busyTimer) clearTimeout(this.#busyTimer);
    this.#busyTimer = null;
    for (const side of this.#sides()) {
      side.stream.removeListener('error', this.#earlyError);
      side.stream.removeListener('close', this.#earlyClose);
    }
  }

  /** Every distinct stream this tunnel holds, TLS streams before the raw sockets they wrap. */
  #sides(): Endpoint[] {
    const seen = new Set<Duplex>();
    const list: Endpoint[] = [];
    for (const side of [this.#tlsSide, this.#plainSide, this.#remote, this.#local]) {
      if (side && !seen.has(side.stream)) {
        seen.add(side.stream);
        list.push(side);
      }
    }
    // A raw socket wrapped by a TLS stream is closed through that stream only.
    const wrapped = new Set(list.filter((s) => s.stream instanceof TLSSocket).map((s) => s.raw));
    return list.filter((s) => s.stream instanceof TLSSocket || !wrapped.has(s.stream as Socket));
  }

  #end = (status: CloseStatus): void => {
    if (this.#ended) return;
    this.#ended = true;
    this.#dial.aborted = true;
    this.#dial.current?.destroy();
    this.#relay?.stop();
    this.#cleanup();
    this.say(5, `Connection ${status}: ${this.sentToTls} byte(s) sent to TLS, ${this.sentToSocket} byte(s) sent to socket`);
    const rst = status === 'reset' && this.service.config.reset;
    for (const side of this.#sides()) closeStream(side.stream, side.raw, rst);
    this.#host.forget(this);
    this.#markFinished();
  };
}
