/**
 * @module errors
 * The two fatal error kinds and their exit code. Each message is one stunnel-shaped
 * line without the `[!] ` prefix; lib/cli.ts is the only place that prints them.
 */

/** stunnel uses one exit code for every configuration and start-up failure. */
export const EXIT_FAILURE = 1;

/** A failure that ends the process: one or more stunnel-shaped lines, exit code 1. */
abstract class FatalError extends Error {
  readonly messages: readonly string[];
  readonly exitCode = EXIT_FAILURE;
  constructor(messages: readonly string[]) {
    super(messages.join('\n'));
    this.name = new.target.name;
    this.messages = Object.freeze([...messages]);
  }
}

/** The configuration could not be parsed or is inconsistent; nothing was bound or started. */
export class ConfigError extends FatalError {}

/** A failure after parsing: TLS context, bind, chroot, privileges, pid file, log file. */
export class StartupError extends FatalError {}

const ERRNO: Readonly<Record<string, readonly [string, number]>> = {
  ENOENT: ['No such file or directory', 2],
  EACCES: ['Permission denied', 13],
  EPERM: ['Operation not permitted', 1],
  ENOTDIR: ['Not a directory', 20],
  EISDIR: ['Is a directory', 21],
  ELOOP: ['Too many levels of symbolic links', 40],
  ENAMETOOLONG: ['File name too long', 36],
  EMFILE: ['Too many open files', 24],
  EBADF: ['Bad file descriptor', 9],
};

/** An fs error as C's `strerror` + errno, the way stunnel prints it: `No such file or directory (2)`. */
export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const known = ERRNO[code];
  if (known) return `${known[0]} (${known[1]})`;
  return err instanceof Error ? err.message : String(err);
}
