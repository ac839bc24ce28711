/**
 * @module engine/ids
 * Connection ids for `LOGn[ID]`: one counter per process shared by every service
 * (`logId = sequential`), or stunnel's other schemes. With `workers = N` each worker
 * process puts its worker number in front of its sequential ids (`2.17`), so ids stay
 * unique in a log the workers share.
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

let sequencePrefix = '';

/** Sets what every sequential id of this process starts with (a worker's `2.`); '' by default. */
export function setConnectionIdPrefix(prefix: string): void {
  sequencePrefix = prefix;
}

export class ConnectionIds {
  #next = 0;

  /** The id of a new connection of `service`; the sequence advances whatever the scheme. */
  next(service: ServiceConfig): string {
    const n = this.#next++;
    switch (service.logId) {
      case 'unique': return uniqueId();
      case 'process': return String(process.pid);
      default: return sequencePrefix + n;
    }
  }
}
