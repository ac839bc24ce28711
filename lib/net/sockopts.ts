/**
 * @module net/sockopts
 * Applies `socket = a|l|r:OPTION=VALUE` options to Node sockets.
 * CONTRACT (owned by the daemon work): the engine calls applySocketOptions for
 * the listening socket ('a', after listen), each accepted socket ('l') and each
 * remote socket ('r', once connected). Stub until implemented.
 */
import type * as net from 'node:net';
import type { SocketOption } from '../config/model';

export function applySocketOptions(
  _target: net.Socket | net.Server,
  _kind: 'a' | 'l' | 'r',
  _options: readonly SocketOption[],
): void {
  // stub
}
