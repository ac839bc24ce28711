/**
 * @module engine/connect
 * Dials the far side of a tunnel: every resolved address of every target in one list,
 * tried in priority or round-robin order, each under TIMEOUTconnect, with stunnel's lines.
 */
import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Address, ServiceConfig } from '../config/model';
import { applySocketOptions } from '../net/sockopts';
import { systemErrorText } from '../tls/syserror';
import type { LineSink } from '../tls/verify';
import { addressText, connectHost } from './address';

/** One concrete destination: a resolved IP and port, or a Unix socket path. */
export type Destination =
  | { readonly kind: 'inet'; readonly host: string; readonly port: number; readonly text: string }
  | { readonly kind: 'unix'; readonly path: string; readonly text: string };

/** Resolves targets in order; a name that does not resolve is logged and skipped. */
export async function resolveTargets(targets: readonly Address[], say: LineSink): Promise<Destination[]> {
  const list: Destination[] = [];
  for (const target of targets) {
    if (target.kind === 'unix') {
      list.push({ kind: 'unix', path: target.path, text: target.path });
      continue;
    }
    const host = connectHost(target);
    if (isIP(host)) {
      list.push({ kind: 'inet', host, port: target.port, text: addressText(host, target.port) });
      continue;
    }
    try {
      for (const found of await lookup(host, { all: true })) {
        list.push({ kind: 'inet', host: found.address, port: target.port, text: addressText(found.address, target.port) });
      }
    } catch (err) {
      say(3, `Error resolving "${host}": ${(err as NodeJS.ErrnoException).code ?? systemErrorText(err)}`);
    }
  }
  return list;
}

/** Something the tunnel can abort while a dial is in flight. */
export interface DialHandle {
  /** The socket being connected right now (null once it answered or failed). */
  current: Socket | null;
  aborted: boolean;
  /** The destination that answered (`host:port`), once connected. */
  connected: string | null;
}

function tryOne(dest: Destination, service: ServiceConfig, handle: DialHandle, say: LineSink): Promise<Socket | null> {
  say(6, `s_connect: connecting ${dest.text}`);
  return new Promise((resolve) => {
    const socket = dest.kind === 'unix'
      ? netConnect({ path: dest.path, allowHalfOpen: true })
      : netConnect({ host: dest.host, port: dest.port, localAddress: service.local ?? undefined, allowHalfOpen: true });
    handle.current = socket;
    const timer = setTimeout(() => {
      say(3, `s_connect: s_poll_wait ${dest.text}: TIMEOUTconnect exceeded`);
      socket.destroy();
      settle(null);
    }, service.timeouts.connect * 1000);
    function settle(result: Socket | null): void {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      socket.removeListener('connect', onConnect);
      handle.current = null;
      resolve(result);
    }
    function onError(err: NodeJS.ErrnoException): void {
      say(3, err.code === 'EMFILE' || err.code === 'ENFILE'
        ? `remote socket: ${systemErrorText(err)}`
        : `s_connect: connect ${dest.text}: ${systemErrorText(err)}`);
      socket.destroy();
      settle(null);
    }
    function onConnect(): void {
      say(5, `s_connect: connected ${dest.text}`);
      applySocketOptions(socket, 'r', service.socketOptions);
      settle(socket);
    }
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}

/**
 * Connects to the first destination that answers, starting at `start` (round-robin) and
 * wrapping around. Resolves null after `No more addresses to connect`.
 */
export async function dial(
  destinations: readonly Destination[], start: number, service: ServiceConfig, handle: DialHandle, say: LineSink,
): Promise<Socket | null> {
  const count = destinations.length;
  if (count > 1) {
    say(6, service.failover === 'rr'
      ? `failover: round-robin, starting at entry #${start % count}`
      : 'failover: priority, starting at entry #0');
  }
  for (let i = 0; i < count && !handle.aborted; i++) {
    const socket = await tryOne(destinations[(start + i) % count], service, handle, say);
    if (socket) {
      if (handle.aborted) { socket.destroy(); return null; }
      handle.connected = destinations[(start + i) % count].text;
      return socket;
    }
  }
  if (!handle.aborted) say(3, 'No more addresses to connect');
  return null;
}
