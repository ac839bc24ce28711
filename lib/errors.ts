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
