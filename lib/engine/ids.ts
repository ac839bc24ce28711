/**
 * @module engine/ids
 * Connection ids for `LOGn[ID]`: one counter per process shared by every service
 * (`logId = sequential`), or stunnel's other schemes.
 */
import { randomBytes } from 'node:crypto';
import type { ServiceConfig } from '../config/model';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function uniqueId(): string {
  const bytes = randomBytes(22);
  let id = '';
  for (const byte of bytes) id += BASE62[byte % 62];
  return id;
}

export class ConnectionIds {
  #next = 0;

  /** The id of a new connection of `service`; the sequence advances whatever the scheme. */
  next(service: ServiceConfig): string {
    const n = this.#next++;
    switch (service.logId) {
      case 'unique': return uniqueId();
      case 'process': return String(process.pid);
      default: return String(n);
    }
  }
}
