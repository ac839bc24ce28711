/**
 * @module tls/syserror
 * System error text as stunnel prints it (strerror plus the errno number):
 * `Connection refused (111)`, `No such file or directory (2)`.
 */
import { getSystemErrorMap } from 'node:util';
import { constants } from 'node:os';

const errnoByCode = constants.errno as Readonly<Record<string, number>>;

/** `Connection refused (111)` for a Node system error; the plain message for anything else. */
export function systemErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const number = code !== undefined ? errnoByCode[code] : undefined;
  if (number === undefined) return e?.message ?? String(err);
  const entry = typeof e.errno === 'number' ? getSystemErrorMap().get(e.errno) : undefined;
  const text = entry ? entry[1] : code!;
  return `${text.charAt(0).toUpperCase()}${text.slice(1)} (${number})`;
}

/** True for the errors a peer causes routinely (reset, broken pipe): logged quietly, never as failures. */
export function isPeerDisconnect(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}
