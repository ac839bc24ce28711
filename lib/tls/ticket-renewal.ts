/**
 * @module tls/ticket-renewal
 * A resumed TLS 1.3 handshake gets one fresh session ticket, a resumed TLS 1.2 one none, as
 * stunnel 5.68 does (OpenSSL with its own ticket keys renews every TLS 1.3 ticket it accepts).
 * Node replaces OpenSSL's keys with a callback that never asks for renewal, so a Node server
 * sends no ticket on a resumed TLS 1.3 connection: a client that uses each ticket once
 * (RFC 8446 C.4; tlsfuzzer, browsers) then pays a full handshake every other time.
 *
 * OpenSSL's ticket-key callback does not say which connection it is working for. Node lets
 * OpenSSL read a server socket's first ClientHello synchronously inside its `onclienthello`
 * hook (the session cache, tls/sessions, answers at once), so `watchClientHello` marks the
 * socket for that span and the callback asks it for its protocol (already chosen when a ticket
 * is decrypted). A ticket decrypted outside that span comes with the second ClientHello after a
 * HelloRetryRequest, which only TLS 1.3 has: renewed. (A TLS 1.2 renegotiation would be the other
 * case, but OpenSSL 3 refuses a client's renegotiation unless told to allow it.)
 */
import type { SecureContext, TLSSocket } from 'node:tls';
import { aroundClientHello, renewTicketsWhen } from '../node-internals';

/** The server socket whose ClientHello OpenSSL is reading right now, if any. */
let reading: TLSSocket | null = null;

function renewThisTicket(): boolean {
  return reading === null || reading.getProtocol() === 'TLSv1.3';
}

/** A server context whose accepted TLS 1.3 tickets are renewed (once per context, at build time). */
export function renewTls13Tickets(context: SecureContext): void {
  renewTicketsWhen(context, renewThisTicket);
}

/** Lets the ticket callback find `tls` while OpenSSL reads its ClientHello (each server socket, once made). */
export function watchClientHello(tls: TLSSocket): void {
  let outer: TLSSocket | null = null;
  aroundClientHello(tls, () => {
    outer = reading;
    reading = tls;
  }, () => {
    reading = outer;
  });
}
