/**
 * @module process/banner
 * The first start-up lines, in the place of stunnel's `stunnel 5.68 on … platform` banner.
 */
import { VERSION } from '../version';

export function startupBanner(): Array<{ level: 5; text: string }> {
  return [
    { level: 5, text: `stunnel-ts ${VERSION} on ${process.arch}-${process.platform} platform (Node.js ${process.version})` },
    { level: 5, text: `Compiled/running with OpenSSL ${process.versions.openssl}` },
  ];
}
