/**
 * @module engine/status
 * The word in `Connection <status>: …` and which sockets it resets.
 *
 * CLOSE STATUS. stunnel names the two sockets of a connection in a fixed order: first the
 * connect-side (remote) socket, then the accept-side (local) one.
 *   closed        a normal end, including a peer that reset its own socket
 *   reset         an error: both sockets get a TCP RST (with `reset = yes`)
 *   reset/closed  an error the TLS layer already told the peer about (a fatal alert sent or
 *   closed/reset  received, or the peer's EOF): the TLS socket closes normally, only the plain
 *                 one is reset. Server mode (TLS on the accept side) says reset/closed,
 *                 client mode (TLS on the connect side) closed/reset.
 */
export type CloseStatus = 'closed' | 'reset' | 'reset/closed' | 'closed/reset';

/** True when the connect-side socket is to be reset. */
export function resetsRemote(status: CloseStatus): boolean {
  return status === 'reset' || status === 'reset/closed';
}

/** True when the accept-side socket is to be reset. */
export function resetsLocal(status: CloseStatus): boolean {
  return status === 'reset' || status === 'closed/reset';
}

/** The status of a failure the TLS peer has been told about: only the plain side is reset. */
export function tlsToldStatus(tlsIsRemote: boolean): CloseStatus {
  return tlsIsRemote ? 'closed/reset' : 'reset/closed';
}

/**
 * TLS errors OpenSSL raises without sending an alert: the bytes were not TLS at all, so
 * there is nobody to tell (stunnel resets both sockets for these).
 */
const WITHOUT_ALERT = new Set([
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_HTTPS_PROXY_REQUEST',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
]);

/** True when a TLS error came with an alert sent or received (decided from `err.code` only). */
export function alertExchanged(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code.startsWith('ERR_SSL_') && !WITHOUT_ALERT.has(code);
}
