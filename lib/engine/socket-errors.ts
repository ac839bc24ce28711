/**
 * @module engine/socket-errors
 * How the engine sorts a socket's errors: routine peer disconnects (logged quietly) and a
 * full descriptor table (the fd wall). Their text comes from lib/errno.
 */

/** True for the errors a peer causes routinely (reset, broken pipe): a normal end, logged quietly. */
export function isPeerDisconnect(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

/** True when the descriptor table is full (this process's or the system's). */
export function isDescriptorShortage(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}
