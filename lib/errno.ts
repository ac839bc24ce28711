/**
 * @module errno
 * System error text as stunnel prints it: C's strerror (glibc's words) and the errno number,
 * `Connection refused (111)`, `No such file or directory (2)`. One table for the whole program:
 * configuration, process and engine errors all read it.
 *
 * The words come from libuv's table (`util.getSystemErrorMap()`), except where glibc says it
 * otherwise (GLIBC below), so a line reads as stunnel's on the same machine. The table is built
 * on first use: a routine reset costs nothing unless a line is really logged.
 */
import { getSystemErrorMap } from 'node:util';

/** Where glibc's strerror words differ from libuv's (checked against glibc 2.36). */
const GLIBC: Readonly<Record<string, string>> = {
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENFILE: 'Too many open files in system',
  EHOSTUNREACH: 'No route to host',
  EEXIST: 'File exists',
  ENOTSUP: 'Operation not supported',
  EAFNOSUPPORT: 'Address family not supported by protocol',
};

/** code (`ECONNREFUSED`) → `Connection refused (111)`, and the same keyed by the negative errno. */
let byCode: Map<string, string> | null = null;
let byNumber: Map<number, string> | null = null;

function build(): void {
  byCode = new Map();
  byNumber = new Map();
  for (const [negative, [name, message]] of getSystemErrorMap()) {
    if (negative >= 0 || negative < -4095) continue; // libuv's own and getaddrinfo codes have no errno
    const words = GLIBC[name] ?? `${message.charAt(0).toUpperCase()}${message.slice(1)}`;
    const text = `${words} (${-negative})`;
    byCode.set(name, text);
    byNumber.set(negative, text);
  }
}

/** `Connection refused (111)` for a Node system error (by its `code`); the plain message for anything else. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException | null | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code !== undefined) {
    if (byCode === null) build();
    const text = byCode!.get(code);
    if (text !== undefined) return text;
  }
  return e instanceof Error ? e.message : String(err);
}

/** A negative errno (as the native addon returns it) as strerror and number: `Operation not permitted (1)`. */
export function errnoMessage(negativeErrno: number): string {
  if (byNumber === null) build();
  return byNumber!.get(negativeErrno) ?? `Unknown error ${-negativeErrno} (${-negativeErrno})`;
}
