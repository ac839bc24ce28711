/**
 * @module engine/proxy-in
 * `acceptProxy = yes` (stunnel-ts extension): the PROXY v1/v2 header a balancer sends before
 * the client's first byte, read from an accepted socket before anything else happens on it.
 *
 *   reading ─header parsed─▶ done(client | null)    bytes after the header are put back
 *           ─bad bytes / EOF / error / TIMEOUTbusy─▶ refused(reason)
 *
 * The reader owns the socket only while reading: its own listeners come off when it ends,
 * and the socket is left paused with whatever followed the header back in its buffer (a
 * TLS socket made over it later takes those bytes first). Nothing is ever written back.
 */
import type { Socket } from 'node:net';
import { parseProxyHeader, type ProxiedAddresses } from './proxy-header';

/** What the reader reports to its owner (the tunnel). */
export interface ProxyHeaderOwner {
  /** The header was read: the client it names, or null (LOCAL, UNKNOWN: the connection's own addresses). */
  proxyHeaderRead(client: ProxiedAddresses | null): void;
  /** No valid header arrived: why. */
  proxyHeaderRefused(reason: string): void;
}

const READER = Symbol('proxyHeaderReader');

class HeaderReader {
  #received: Buffer = Buffer.alloc(0);
  readonly #timer: NodeJS.Timeout;

  constructor(readonly socket: Socket & { [READER]?: HeaderReader }, readonly owner: ProxyHeaderOwner, timeoutMs: number) {
    socket[READER] = this;
    this.#timer = setTimeout(onTimeout, timeoutMs, this);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  data(chunk: Buffer): void {
    this.#received = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
    const result = parseProxyHeader(this.#received);
    if (result.kind === 'more') return;
    this.#finish();
    if (result.kind === 'error') return this.owner.proxyHeaderRefused(result.reason);
    const rest = this.#received.subarray(result.length);
    this.socket.pause();
    if (rest.length > 0) this.socket.unshift(rest);
    this.owner.proxyHeaderRead(result.client);
  }

  fail(reason: string): void {
    this.#finish();
    this.owner.proxyHeaderRefused(reason);
  }

  #finish(): void {
    clearTimeout(this.#timer);
    const socket = this.socket;
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
    delete socket[READER];
  }
}

function onData(this: Socket & { [READER]?: HeaderReader }, chunk: Buffer): void {
  this[READER]?.data(chunk);
}

function onEnd(this: Socket & { [READER]?: HeaderReader }): void {
  this[READER]?.fail('connection closed before a complete PROXY header');
}

function onError(this: Socket & { [READER]?: HeaderReader }, err: Error): void {
  this[READER]?.fail(`connection error before a complete PROXY header: ${err.message}`);
}

function onClose(this: Socket & { [READER]?: HeaderReader }): void {
  this[READER]?.fail('connection closed before a complete PROXY header');
}

function onTimeout(reader: HeaderReader): void {
  reader.fail('no complete PROXY header within TIMEOUTbusy');
}

/** Starts reading the header on `socket`; the owner hears of the outcome once. */
export function readProxyHeader(socket: Socket, owner: ProxyHeaderOwner, timeoutMs: number): void {
  new HeaderReader(socket, owner, timeoutMs);
}
