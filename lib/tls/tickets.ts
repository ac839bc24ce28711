/**
 * @module tls/tickets
 * Session-ticket keys from `ticketKeySecret` + `ticketMacSecret`. Node wants one 48-byte
 * block (16 name, 16 HMAC, 16 AES); we derive it with HKDF-SHA256 so every process
 * configured with the same two secrets issues and accepts the same tickets.
 */
import { hkdfSync } from 'node:crypto';

const SALT = Buffer.from('stunnel-ts session ticket keys v1');

export function ticketKeys(keySecret: Buffer, macSecret: Buffer): Buffer {
  const material = Buffer.concat([keySecret, macSecret]);
  return Buffer.from(hkdfSync('sha256', material, SALT, Buffer.alloc(0), 48));
}
