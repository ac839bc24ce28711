/**
 * @module tls/describe
 * The handshake summary lines stunnel logs at LOG6 once a handshake is done.
 */
import type { TLSSocket } from 'node:tls';

/** Symmetric key size, read from the cipher's name (OpenSSL or IANA spelling). */
function keyBits(name: string): number | null {
  if (/CHACHA20/i.test(name)) return 256;
  const aes = /AES_?(\d{3})/i.exec(name) ?? /CAMELLIA_?(\d{3})/i.exec(name) ?? /ARIA_?(\d{3})/i.exec(name);
  return aes ? Number(aes[1]) : null;
}

/** `TLSv1.3 ciphersuite: TLS_AES_256_GCM_SHA384 (256-bit encryption)`. */
export function cipherLine(socket: TLSSocket): string {
  const cipher = socket.getCipher();
  const bits = keyBits(cipher.name);
  return `${socket.getProtocol() ?? cipher.version} ciphersuite: ${cipher.name}` +
    (bits ? ` (${bits}-bit encryption)` : '');
}

/**
 * `TLS accepted: new session negotiated` / `TLS connected: previous session reused`.
 * A TLS 1.3 handshake on an external pre-shared key (`PSKsecrets`) looks like a resumption to
 * OpenSSL; stunnel calls it a new session, and so do we when `externalPsk` is set.
 */
export function sessionLine(socket: TLSSocket, server: boolean, externalPsk = false): string {
  const reused = socket.isSessionReused() && !externalPsk;
  return `TLS ${server ? 'accepted' : 'connected'}: ${reused ? 'previous session reused' : 'new session negotiated'}`;
}

/**
 * stunnel's `FILE:LINE: error:CODE:LIB::REASON` text (after `SSL_accept: `, `SSL_read: `...) from a Node TLS error;
 * a system error keeps its errno text.
 */
export function tlsErrorText(err: Error): string {
  const match = /error:([0-9A-F]{8}):([^:]*):[^:]*:([^:\n]*):([^:\n]*):(\d+)/.exec(err.message);
  if (match) return `${match[4]}:${match[5]}: error:${match[1]}:${match[2]}::${match[3]}`;
  return err.message;
}
