/**
 * @module node-internals
 * Every use of Node's private API, behind one door. Each function says why no public API does
 * the job and which Node versions were checked (20.17 to 20.20, the range package.json allows in
 * practice). `checkNodeInternals()` runs at start-up and `checkServerHandle()` on the first bound
 * listener: when a Node update removes one of these, stunnel-ts refuses to start with a message
 * naming it, instead of silently losing a safety check.
 *
 *   descriptorOf        _handle.fd              the descriptor of a socket or server (socket options,
 *                                                the fd wall, stunnel's FD=n lines)
 *   resetAfterWrap      _handle.reset(cb)       RST on a TCP socket that a TLSSocket wraps
 *                                                (net.Socket#resetAndDestroy refuses a wrapped socket)
 *   releaseTlsErrors    TLSSocket#_releaseControl  post-handshake TLS errors reach 'error' on a server
 *                                                TLSSocket made without tls.Server
 *   chainVerifyError    _handle.verifyError()   OpenSSL's chain verdict on the server side
 *                                                (public `authorizationError` exists only for clients)
 *   setContextTicketKeys SecureContext#context.setTicketKeys  new ticket keys for an existing context
 *                                                (the public `ticketKeys` option only at creation)
 *   renewTicketsWhen    SecureContext#context.enableTicketKeyCallback / onticketkeycallback /
 *                       getTicketKeys           OpenSSL told to issue a fresh ticket when it accepts one
 *                                                (Node's own key callback never asks for renewal)
 *   aroundClientHello   TLSWrap#onclienthello   code run around a server socket's first ClientHello
 *                                                (Node has no per-connection hook before OpenSSL reads it)
 *   sessionServer       TLSSocket `server` option  the object Node asks for session-id sessions
 *                                                ('newSession'/'resumeSession'), without a tls.Server
 *   setVerifyMode       _handle.setVerifyMode   a server-side SNI switch applies the secondary's
 *                                                client-certificate request inside the handshake
 *                                                (public only as renegotiate(), a new handshake)
 *   interceptClusterBinds  cluster 'internalMessage'  the primary refuses a worker's bind request
 *                                                (node:cluster has no public hook for them)
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext, type Server as TlsServer } from 'node:tls';
import { Socket as NetSocket } from 'node:net';
import type { EventEmitter } from 'node:events';
import type { Worker } from 'node:cluster';
import { StartupError } from './errors';

interface TcpHandle {
  fd?: number;
  reset?: (done: () => void) => number;
}

interface TlsHandle {
  verifyError?: () => Error | null;
  onclienthello?: (this: TlsHandle, hello: unknown) => unknown;
}

/** What is used of SecureContext#context (typed `any` by @types/node) for session tickets. */
interface NativeContext {
  setTicketKeys(keys: Buffer): void;
  getTicketKeys(): Buffer;
  enableTicketKeyCallback(): void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => TicketKeyAnswer;
}

/**
 * Node's ticket-key callback answer: [status, HMAC key, AES key] (+ [name, IV] when encrypting);
 * status 0 refuses the ticket, 1 accepts it, 2 accepts it and asks for a fresh one.
 */
type TicketKeyAnswer = [number, Buffer, Buffer, Buffer?, Buffer?];

const handleOf = <H>(target: object): H | null | undefined => (target as { _handle?: H | null })._handle;

/** The descriptor behind a socket or a listening server, or null when it has none (not open, closed). */
export function descriptorOf(target: Socket | Server): number | null {
  const fd = handleOf<TcpHandle>(target)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/**
 * Sends a TCP RST on `raw`, a socket that a TLSSocket wraps, then calls `done`. False when the
 * handle cannot reset (a pipe, a closed socket): the caller destroys instead.
 */
export function resetAfterWrap(raw: Socket, done: () => void): boolean {
  const handle = handleOf<TcpHandle>(raw);
  return typeof handle?.reset === 'function' && handle.reset(done) === 0;
}

/**
 * A server TLSSocket made without a tls.Server keeps its TLS errors after the handshake to itself
 * (Node emits them as `_tlsError` only) until control is released, as tls.Server does on 'secure'.
 */
export function releaseTlsErrors(tls: TLSSocket): void {
  (tls as unknown as { _releaseControl: () => boolean })._releaseControl();
}

/**
 * Sets whether this handshake asks the peer for a certificate and refuses it without one, before
 * the server's certificate request is built (from the SNI callback). Node sets it only when the
 * socket is made.
 */
export function setVerifyMode(tls: TLSSocket, requestCert: boolean, rejectUnauthorized: boolean): void {
  handleOf<TlsHandle & { setVerifyMode(request: boolean, reject: boolean): void }>(tls)!.setVerifyMode(requestCert, rejectUnauthorized);
}

/** Why OpenSSL's chain check of the peer failed on this connection, or null when it passed. */
export function chainVerifyError(socket: TLSSocket): Error | null {
  return handleOf<TlsHandle>(socket)?.verifyError?.() ?? null;
}

/** Gives an existing context new session-ticket keys (48 bytes: name, HMAC, AES), as tls.Server#setTicketKeys does. */
export function setContextTicketKeys(context: SecureContext, keys: Buffer): void {
  (context.context as NativeContext).setTicketKeys(keys);
}

/**
 * Session tickets of `context` keep Node's format and keys (its 48-byte block: 16 name, 16 HMAC,
 * 16 AES-128-CBC; whatever `ticketKeys`/setContextTicketKeys set), but when a ticket is accepted
 * OpenSSL is asked to issue a fresh one if `renew()` says so. Node installs a ticket-key callback on
 * every context that accepts without renewal; this is the hook Node keeps for its own tests
 * (test-https-resume-after-renew.js), which makes OpenSSL call `onticketkeycallback` instead.
 * `renew` runs synchronously inside OpenSSL's reading of the ClientHello.
 */
export function renewTicketsWhen(context: SecureContext, renew: () => boolean): void {
  const native = context.context as NativeContext;
  native.enableTicketKeyCallback();
  native.onticketkeycallback = (name, iv, encrypt) => {
    const keys = native.getTicketKeys();
    const [keyName, hmac, aes] = [keys.subarray(0, 16), keys.subarray(16, 32), keys.subarray(32, 48)];
    if (encrypt) return [1, hmac, aes, keyName, randomBytes(16)];
    // Another key's ticket: a full handshake, as with Node's own callback. Node reads the keys even
    // for a 0 (and aborts the process without them), so they are always given.
    if (!name.equals(keyName)) return [0, hmac, aes];
    return [renew() ? 2 : 1, hmac, aes];
  };
}

/**
 * Runs `enter` before and `leave` after Node hands a server socket's first ClientHello to OpenSSL
 * (Node parses it first when the session server listens, then lets OpenSSL read it synchronously,
 * inside this call). False when the handle has no such hook.
 */
export function aroundClientHello(tls: TLSSocket, enter: () => void, leave: () => void): boolean {
  const handle = handleOf<TlsHandle>(tls);
  const original = handle?.onclienthello;
  if (!handle || typeof original !== 'function') return false;
  handle.onclienthello = function clientHello(this: TlsHandle, hello: unknown) {
    enter();
    try {
      return original.call(this, hello);
    } finally {
      leave();
    }
  };
  return true;
}

/**
 * The `server` option of a server TLSSocket: Node emits 'newSession'/'resumeSession' on it for
 * session-id resumption. Any EventEmitter does; the type says tls.Server only.
 */
export function sessionServer(cache: EventEmitter | null): TlsServer | undefined {
  return (cache ?? undefined) as unknown as TlsServer | undefined;
}

/**
 * Lets `allow(request)` decide each bind request of a cluster worker before node:cluster serves
 * it. They arrive as 'internalMessage' events ({ cmd: 'NODE_CLUSTER', act: 'queryServer', address,
 * port, addressType, fd, … }) on the worker's ChildProcess; this listener runs first, and a request
 * whose `act` it renames is ignored by node:cluster's own. False when node:cluster listens for no
 * such event (a Node that changed it).
 */
export function interceptClusterBinds(worker: Worker, allow: (request: Readonly<Record<string, unknown>>) => boolean): boolean {
  const child = worker.process as unknown as EventEmitter;
  if (child.listenerCount('internalMessage') === 0) return false;
  child.prependListener('internalMessage', (message: unknown) => {
    if (typeof message !== 'object' || message === null) return;
    const request = message as Record<string, unknown>;
    if (request.cmd !== 'NODE_CLUSTER' || request.act !== 'queryServer') return;
    if (!allow(request)) request.act = 'refusedByStunnelTs';
  });
  return true;
}

/** Each internal this module relies on, and whether this Node has it. */
function missingTlsInternals(): string[] {
  const missing: string[] = [];
  const context = createSecureContext();
  const native = (context as unknown as { context?: Partial<Record<keyof NativeContext, unknown>> }).context;
  for (const method of ['setTicketKeys', 'getTicketKeys', 'enableTicketKeyCallback'] as const) {
    if (typeof native?.[method] !== 'function') missing.push(`SecureContext.context.${method}`);
  }
  if (typeof (TLSSocket.prototype as unknown as { _releaseControl?: unknown })._releaseControl !== 'function') {
    missing.push('TLSSocket#_releaseControl');
  }
  const probe = new TLSSocket(new NetSocket(), { isServer: true, secureContext: context });
  try {
    const handle = handleOf<TlsHandle & { setVerifyMode?: unknown }>(probe);
    if (typeof handle?.verifyError !== 'function') missing.push('TLSWrap#verifyError');
    if (typeof handle?.setVerifyMode !== 'function') missing.push('TLSWrap#setVerifyMode');
    if (typeof handle?.onclienthello !== 'function') missing.push('TLSWrap#onclienthello');
  } finally {
    probe.destroy();
  }
  return missing;
}

function failure(missing: readonly string[]): StartupError {
  return new StartupError([`Node.js ${process.version} lacks the internal API stunnel-ts needs: ${missing.join(', ')} ` +
    '(see lib/node-internals.ts; use a Node.js 20 release from 20.17 on)']);
}

let checked = false;

/** Start-up check of the TLS internals (once per process); throws naming each one that is missing. */
export function checkNodeInternals(): void {
  if (checked) return;
  checked = true;
  const missing = missingTlsInternals();
  if (missing.length > 0) throw failure(missing);
}

/** Check of the TCP handle's internals on a bound server (the same handle class as its connections). */
export function checkServerHandle(server: Server): void {
  const handle = handleOf<TcpHandle>(server);
  if (handle === null || handle === undefined) return; // not bound (yet): nothing to look at
  const missing: string[] = [];
  if (typeof handle.fd !== 'number') missing.push('TCP#fd');
  if (handle.constructor.name === 'TCP' && typeof handle.reset !== 'function') missing.push('TCP#reset');
  if (missing.length > 0) throw failure(missing);
}
