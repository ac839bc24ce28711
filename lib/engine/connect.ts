/**
 * @module engine/connect
 * Dials the far side of a tunnel: every resolved address of every target in one list,
 * tried in priority or round-robin order, each under TIMEOUTconnect, with stunnel's lines.
 *
 * Names are resolved once when the service starts; with `delay = yes` (or when a name did
 * not resolve at start) they are resolved again for every connection.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Address, ServiceConfig } from '../config/model';
import { errnoText } from '../errno';
import { resolveName, resolverErrorText } from '../net/resolve';
import { isDescriptorShortage } from './socket-errors';
import type { SocketSetup } from './sockets';
import type { Speaker } from '../tls/verify';
import { addressText, connectHost } from './address';
import { SHARED_READ } from './shared-read';

/** One concrete destination: a resolved IP and port, or a Unix socket path. */
export type Destination =
  | { readonly kind: 'inet'; readonly host: string; readonly port: number; readonly text: string }
  | { readonly kind: 'unix'; readonly path: string; readonly text: string };

/** The destinations of targets that need no name lookup, or null when one of them is a name. */
export function literalDestinations(targets: readonly Address[]): Destination[] | null {
  const list: Destination[] = [];
  for (const target of targets) {
    if (target.kind === 'unix') {
      list.push({ kind: 'unix', path: target.path, text: target.path });
      continue;
    }
    const host = connectHost(target);
    if (!isIP(host)) return null;
    list.push({ kind: 'inet', host, port: target.port, text: addressText(host, target.port) });
  }
  return list;
}

/**
 * Resolves targets in order. A name that does not resolve is logged at LOG3 (`Error
 * resolving "name": …`, stunnel's words) and skipped.
 */
export async function resolveTargets(targets: readonly Address[], log: Speaker): Promise<Destination[]> {
  const list: Destination[] = [];
  for (const target of targets) {
    const literal = literalDestinations([target]);
    if (literal) {
      list.push(...literal);
      continue;
    }
    const host = connectHost(target as Address & { kind: 'inet' });
    const port = (target as Address & { kind: 'inet' }).port;
    try {
      for (const found of await resolveName(host, log)) {
        list.push({ kind: 'inet', host: found.address, port, text: addressText(found.address, port) });
      }
    } catch (err) {
      log.say(3, `Error resolving "${host}": ${resolverErrorText(err)}`);
    }
  }
  return list;
}

/** What a Dialer reports to. */
export interface DialOwner extends Speaker {
  /** The socket that answered (options applied), or null after `No more addresses to connect`. */
  dialed(socket: Socket | null, destination: Destination | null): void;
  /** The descriptor table is full. */
  descriptorShortage(): void;
}

const DIALER = Symbol('dialer');
type DialSocket = Socket & { [DIALER]?: Dialer };

/**
 * One connection attempt after another, starting at `start` (round-robin) and wrapping
 * around. Listeners are module-level functions; the attempt's socket points back here.
 */
export class Dialer {
  #socket: DialSocket | null = null;
  #timer: NodeJS.Timeout | null = null;
  #tried = 0;
  #done = false;

  constructor(
    readonly owner: DialOwner,
    readonly service: ServiceConfig,
    readonly destinations: readonly Destination[],
    readonly start: number,
    readonly setup: SocketSetup,
  ) {
    const count = destinations.length;
    if (count > 1 && owner.wants(6)) {
      owner.say(6, service.failover === 'rr'
        ? `failover: round-robin, starting at entry #${start % count}`
        : 'failover: priority, starting at entry #0');
    }
  }

  /** Tries the next destination, or reports that none answered. */
  next(): void {
    if (this.#done) return;
    const count = this.destinations.length;
    if (this.#tried >= count) {
      this.#done = true;
      // Nothing resolved at all, or every address tried: stunnel's two lines.
      this.owner.say(3, count === 0 ? 'No remote host resolved' : 'No more addresses to connect');
      this.owner.dialed(null, null);
      return;
    }
    const dest = this.destinations[(this.start + this.#tried++) % count];
    if (this.owner.wants(6)) this.owner.say(6, `s_connect: connecting ${dest.text}`);
    // Server mode dials the plain side: it reads into the shared buffer (engine/shared-read).
    // Client mode dials what TLS will wrap: Node's own reads.
    const onread = this.service.client ? undefined : SHARED_READ;
    const socket: DialSocket = dest.kind === 'unix'
      ? netConnect({ path: dest.path, allowHalfOpen: true, onread })
      : netConnect({ host: dest.host, port: dest.port, localAddress: this.service.local ?? undefined, allowHalfOpen: true, onread });
    socket[DIALER] = this;
    socket.on('error', onDialError);
    socket.on('connect', onDialConnect);
    this.#socket = socket;
    this.#timer = setTimeout(onDialTimeout, this.service.timeouts.connect * 1000, this);
  }

  /** Stops dialing (the tunnel ended): the attempt in flight is dropped, nothing is reported. */
  abort(): void {
    if (this.#done) return;
    this.#done = true;
    const socket = this.#release();
    socket?.destroy();
  }

  #release(): DialSocket | null {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const socket = this.#socket;
    this.#socket = null;
    if (socket) {
      socket.removeListener('error', onDialError);
      socket.removeListener('connect', onDialConnect);
      socket[DIALER] = undefined;
    }
    return socket;
  }

  #current(): Destination {
    const count = this.destinations.length;
    return this.destinations[(this.start + this.#tried - 1) % count];
  }

  failed(err: NodeJS.ErrnoException): void {
    const socket = this.#release();
    socket?.destroy();
    if (isDescriptorShortage(err)) {
      this.owner.say(3, `remote socket: ${errnoText(err)}`);
      this.owner.descriptorShortage();
    } else {
      this.owner.say(3, `s_connect: connect ${this.#current().text}: ${errnoText(err)}`);
    }
    this.next();
  }

  timedOut(): void {
    this.#timer = null;
    const socket = this.#release();
    socket?.destroy();
    this.owner.say(3, `s_connect: s_poll_wait ${this.#current().text}: TIMEOUTconnect exceeded`);
    this.next();
  }

  /** `socket`, the attempt in flight, connected. */
  connected(socket: DialSocket): void {
    const dest = this.#current();
    this.#release();
    try {
      this.setup(socket);
    } catch (err) {
      this.owner.say(3, (err as Error).message);
      socket.destroy();
      this.#done = true;
      this.owner.dialed(null, null);
      return;
    }
    this.#done = true;
    this.owner.say(5, `s_connect: connected ${dest.text}`);
    this.owner.dialed(socket, dest);
  }
}

function onDialError(this: DialSocket, err: NodeJS.ErrnoException): void {
  this[DIALER]?.failed(err);
}

function onDialConnect(this: DialSocket): void {
  this[DIALER]?.connected(this);
}

function onDialTimeout(dialer: Dialer): void {
  dialer.timedOut();
}
