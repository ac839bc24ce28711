/**
 * @module process/banner
 * The first start-up lines, in the place of stunnel's `stunnel 5.68 on … platform` banner.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function packageVersion(): string {
  for (const up of ['../..', '../../..']) {
    try {
      return (JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // Try the next layout (lib/ from sources, dist/lib/ compiled).
    }
  }
  return 'unknown';
}

const VERSION = packageVersion();

export function startupBanner(): Array<{ level: 5; text: string }> {
  return [
    { level: 5, text: `stunnel-ts ${VERSION} on ${process.arch}-${process.platform} platform (Node.js ${process.version})` },
    { level: 5, text: `Compiled/running with OpenSSL ${process.versions.openssl}` },
  ];
}
