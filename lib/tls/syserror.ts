/**
 * @module tls/syserror
 * System error text as stunnel prints it (strerror plus the errno number):
 * `Connection refused (111)`, `No such file or directory (2)`.
 *
 * The text is looked up by the error's `code` in a table built once, on first use, so a
 * routine reset costs a property read; nothing here runs unless a line is really logged.
 */
import { getSystemErrorMap } from 'node:util';
import { constants } from 'node:os';

const errnoByCode = constants.errno as Readonly<Record<string, number>>;

let textByCode: Map<string, string> | null = null;

/** `ECONNREFUSED` → `Connection refused (111)`, from libuv's strerror table (built once). */
function textOf(code: string): string | undefined {
  if (textByCode === null) {
    textByCode = new Map();
    for (const [, [name, message]] of getSystemErrorMap()) {
      const number = errnoByCode[name];
      if (number !== undefined) textByCode.set(name, `${message.charAt(0).toUpperCase()}${message.slice(1)} (${number})`);
    }
  }
  return textByCode.get(code);
}

/** `Connection refused (111)` for a Node system error; the plain message for anything else. */
export function systemErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const text = code !== undefined ? textOf(code) : undefined;
  return text ?? e?.message ?? String(err);
}

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
