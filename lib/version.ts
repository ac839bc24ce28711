/**
 * @module version
 * The two version facts: the stunnel release whose behaviour stunnel-ts reproduces, and
 * stunnel-ts's own version (package.json, read once).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The stunnel release whose behaviour stunnel-ts reproduces. */
export const STUNNEL_VERSION = '5.68';

function packageVersion(): string {
  // lib/version.ts from sources is one level below package.json, dist/lib/version.js two.
  for (const up of ['..', '../..']) {
    try {
      return (JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // try the other layout
    }
  }
  return 'unknown';
}

/** stunnel-ts's own version. */
export const VERSION = packageVersion();
