/**
 * @module tls/protocol
 * Maps stunnel's protocol settings onto Node's context options: `sslVersionMin/Max`,
 * `options =` names (OpenSSL SSL_OP_* flags), `ciphers` + `ciphersuites` + `securityLevel`.
 */
import { constants } from 'node:crypto';
import type { SecureVersion } from 'node:tls';
import type { TlsConfig, TlsVersion } from '../config/model';
import { tlsOptionByName } from '../config/tls-options';

/** Node cannot speak SSLv3: as a lower bound it means "everything Node allows", as an upper bound nothing. */
const NODE_VERSION: Readonly<Record<TlsVersion, SecureVersion | null>> = {
  SSLv3: null,
  TLSv1: 'TLSv1',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};

export interface VersionRange {
  readonly minVersion: SecureVersion;
  readonly maxVersion: SecureVersion;
}

/**
 * The protocol range. stunnel's unset bounds mean "the library's limits", so an unset
 * minimum is TLSv1 (the security level then decides what really negotiates), not Node's TLSv1.2.
 * Throws a message when the range is empty for Node.
 */
export function versionRange(tls: TlsConfig): VersionRange {
  if (tls.maxVersion === 'SSLv3') throw new Error('Invalid protocol version: SSLv3 is not supported');
  const minVersion = (tls.minVersion && NODE_VERSION[tls.minVersion]) || 'TLSv1';
  const maxVersion = (tls.maxVersion && NODE_VERSION[tls.maxVersion]) || 'TLSv1.3';
  return { minVersion, maxVersion };
}

/** The SSL_OP_* bits of one `options =` name (the vocabulary lives with the parser). */
function optionBits(name: string): number {
  return tlsOptionByName(name)?.bits ?? 0;
}

/**
 * `options =` names to the SSL_OP_* bit mask Node passes to SSL_CTX_set_options.
 * Cleared names (`-NAME`) can only be honoured for flags we set ourselves: Node offers no way
 * to clear OpenSSL's own defaults.
 *
 * A server never grants a client-initiated renegotiation (TLS ≤ 1.2): each one costs the
 * server a full handshake, for free to the client. OpenSSL 3 refuses them by default, and so
 * does stunnel 5.68 whatever `renegotiation` says, but Node turns them back on; NO_RENEGOTIATION
 * makes OpenSSL answer with a no_renegotiation alert, as stunnel's does.
 */
export function secureOptions(tls: TlsConfig, server: boolean): number {
  let mask = 0;
  for (const name of tls.optionsSet) mask |= optionBits(name);
  if (server || !tls.renegotiation) mask |= constants.SSL_OP_NO_RENEGOTIATION;
  if (!tls.sessionResume) mask |= constants.SSL_OP_NO_TICKET;
  for (const name of tls.optionsCleared) mask &= ~optionBits(name);
  return mask >>> 0;
}

/**
 * Node takes TLS 1.2 ciphers and TLS 1.3 suites in one string (names starting with `TLS_`
 * are suites). The security level rides on the TLS 1.2 list as `@SECLEVEL=N`.
 */
export function cipherString(tls: TlsConfig): string {
  const parts: string[] = [];
  if (tls.ciphersuites) parts.push(tls.ciphersuites);
  parts.push(`${tls.ciphers || 'DEFAULT'}:@SECLEVEL=${tls.securityLevel}`);
  return parts.join(':');
}
