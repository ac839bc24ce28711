/**
 * @module cli
 * The command line (stunnel's syntax on commander). Stub until the foundation lands.
 */
export function main(_argv: string[]): void {
  process.stderr.write('stunnel-ts: not built yet\n');
  process.exitCode = 1;
}
