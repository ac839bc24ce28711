/**
 * @module engine/sockets
 * The `socket = l:…` / `socket = r:…` options of one service, prepared once: the common
 * case (only TCP_NODELAY, stunnel's default, which config/values puts at the head of every
 * service's list) is one setNoDelay call per socket; anything
 * else goes through applySocketOptions. A refused option throws a message that speaks to
 * the user; the engine then drops that connection only.
 */
import type { Socket } from 'node:net';
import type { SocketOption } from '../config/model';
import { applySocketOptions } from '../net/sockopts';

export type SocketSetup = (socket: Socket) => void;

function setNoDelay(socket: Socket): void {
  socket.setNoDelay(true);
}

function clearNoDelay(socket: Socket): void {
  socket.setNoDelay(false);
}

function leaveAsIs(): void {
  // no option for this kind of socket
}

/** The setup for accepted ('l') or remote ('r') sockets of a service. */
export function socketSetup(options: readonly SocketOption[], kind: 'l' | 'r'): SocketSetup {
  const mine = options.filter((o) => o.target === kind);
  if (mine.length === 0) return leaveAsIs;
  if (mine.every((o) => o.name === 'TCP_NODELAY')) return mine[mine.length - 1].value === 0 ? clearNoDelay : setNoDelay;
  const side = kind === 'l' ? 'local' : 'remote';
  return (socket) => {
    try {
      applySocketOptions(socket, kind, options);
    } catch (err) {
      throw new Error(`Failed to set ${side} socket options: ${(err as Error).message}`);
    }
  };
}
