/**
 * @module process/lifecycle
 * CONTRACT: the start-up sequence for a normal run (not -test, not the info flags).
 * config → log → TLS contexts (keys read as root) → bind → chroot → setgid/setuid → pid file → ready.
 * Stub until the daemon work lands.
 */
export interface RunRequest {
  /** The configuration file as given on the command line (realpath'd by the loader). */
  readonly configFile?: string;
  /** `-fd N`: read the configuration from this descriptor. */
  readonly configFd?: number;
}

/** Runs until shutdown; resolves with the process exit code. Prints start-up errors to stderr itself. */
export async function run(_request: RunRequest): Promise<number> {
  process.stderr.write('[!] stunnel-ts: the daemon is not implemented yet\n');
  return 1;
}
