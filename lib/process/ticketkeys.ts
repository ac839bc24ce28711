/**
 * @module process/ticketkeys
 * Session tickets that every worker accepts. OpenSSL gives each context random ticket
 * keys, so a ticket issued by one worker process would be refused by another and the
 * client would pay a full handshake. The primary draws one secret at start-up (kept across
 * reloads, so tickets also survive SIGHUP), hands it to every worker, and each worker
 * derives the same 48-byte key block per service from it. Services configured with
 * `ticketKeySecret` + `ticketMacSecret` keep the keys derived from those (tls/tickets).
 * The service's session binding (tls/sessions) is mixed in: after a reload that changes the
 * verification settings, tickets issued before it no longer decrypt.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import type { Prepared } from '../engine/engine';
import { setContextTicketKeys } from '../node-internals';

/** A fresh secret for one primary's lifetime. */
export function newTicketSecret(): Buffer {
  return randomBytes(32);
}

/** The key block (16 name, 16 HMAC, 16 AES bytes) of one service, the same in every worker. */
export function serviceTicketKeys(secret: Buffer, serviceName: string, binding: string): Buffer {
  const salt = Buffer.concat([Buffer.from(`${serviceName}\0`), Buffer.from(binding, 'hex')]);
  return Buffer.from(hkdfSync('sha256', secret, salt, 'stunnel-ts worker ticket keys', 48));
}

/**
 * Gives every server-side context of `prepared` the keys derived from `secret`, unless the
 * service has its own ticket secrets. Returns how many contexts were keyed.
 */
export function shareTicketKeys(prepared: Prepared, secret: Buffer): number {
  let keyed = 0;
  for (const runtime of prepared.services.values()) {
    const { config, tls } = runtime;
    if (config.client || (config.tls.ticketKeySecret && config.tls.ticketMacSecret)) continue;
    setContextTicketKeys(tls.secureContext, serviceTicketKeys(secret, config.name, tls.sessionBinding));
    keyed++;
  }
  return keyed;
}
