/**
 * @module config/tls-options
 * The `options = NAME` vocabulary: every OpenSSL SSL_OP_* name stunnel 5.68 lists with
 * `-options`, with its bit in OpenSSL 3 (the TLS work ORs these into `secureOptions`).
 * Names without effect in OpenSSL 3 have bit 0; they are accepted, as stunnel accepts them.
 */

export interface TlsOptionRow {
  /** As stunnel spells it (without SSL_OP_). */
  readonly name: string;
  /** OpenSSL 3 bit mask; 0 = no effect in OpenSSL 3 (kept for old configs). */
  readonly bits: number;
}

const bit = (n: number) => 2 ** n;

export const TLS_OPTIONS: readonly TlsOptionRow[] = [
  { name: 'ALL', bits: bit(31) + bit(11) + bit(6) + bit(4) },
  { name: 'ALLOW_CLIENT_RENEGOTIATION', bits: bit(8) },
  { name: 'ALLOW_NO_DHE_KEX', bits: bit(10) },
  { name: 'ALLOW_UNSAFE_LEGACY_RENEGOTIATION', bits: bit(18) },
  { name: 'CIPHER_SERVER_PREFERENCE', bits: bit(22) },
  { name: 'CISCO_ANYCONNECT', bits: bit(15) },
  { name: 'CLEANSE_PLAINTEXT', bits: bit(1) },
  { name: 'COOKIE_EXCHANGE', bits: bit(13) },
  { name: 'CRYPTOPRO_TLSEXT_BUG', bits: bit(31) },
  { name: 'DISABLE_TLSEXT_CA_NAMES', bits: bit(9) },
  { name: 'DONT_INSERT_EMPTY_FRAGMENTS', bits: bit(11) },
  { name: 'ENABLE_KTLS', bits: bit(3) },
  { name: 'ENABLE_MIDDLEBOX_COMPAT', bits: bit(20) },
  { name: 'EPHEMERAL_RSA', bits: 0 },
  { name: 'IGNORE_UNEXPECTED_EOF', bits: bit(7) },
  { name: 'LEGACY_SERVER_CONNECT', bits: bit(2) },
  { name: 'MICROSOFT_BIG_SSLV3_BUFFER', bits: 0 },
  { name: 'MICROSOFT_SESS_ID_BUG', bits: 0 },
  { name: 'MSIE_SSLV2_RSA_PADDING', bits: 0 },
  { name: 'NETSCAPE_CA_DN_BUG', bits: 0 },
  { name: 'NETSCAPE_CHALLENGE_BUG', bits: 0 },
  { name: 'NETSCAPE_DEMO_CIPHER_CHANGE_BUG', bits: 0 },
  { name: 'NETSCAPE_REUSE_CIPHER_CHANGE_BUG', bits: 0 },
  { name: 'NO_ANTI_REPLAY', bits: bit(24) },
  { name: 'NO_COMPRESSION', bits: bit(17) },
  { name: 'NO_DTLS_MASK', bits: bit(26) + bit(27) },
  { name: 'NO_DTLSv1', bits: bit(26) },
  { name: 'NO_DTLSv1_2', bits: bit(27) },
  { name: 'NO_ENCRYPT_THEN_MAC', bits: bit(19) },
  { name: 'NO_EXTENDED_MASTER_SECRET', bits: bit(0) },
  { name: 'NO_QUERY_MTU', bits: bit(12) },
  { name: 'NO_RENEGOTIATION', bits: bit(30) },
  { name: 'NO_SESSION_RESUMPTION_ON_RENEGOTIATION', bits: bit(16) },
  { name: 'NO_SSL_MASK', bits: bit(25) + bit(26) + bit(27) + bit(28) + bit(29) },
  { name: 'NO_SSLv2', bits: 0 },
  { name: 'NO_SSLv3', bits: bit(25) },
  { name: 'NO_TICKET', bits: bit(14) },
  { name: 'NO_TLSv1', bits: bit(26) },
  { name: 'NO_TLSv1_1', bits: bit(28) },
  { name: 'NO_TLSv1_2', bits: bit(27) },
  { name: 'NO_TLSv1_3', bits: bit(29) },
  { name: 'PKCS1_CHECK_1', bits: 0 },
  { name: 'PKCS1_CHECK_2', bits: 0 },
  { name: 'PRIORITIZE_CHACHA', bits: bit(21) },
  { name: 'SAFARI_ECDHE_ECDSA_BUG', bits: bit(6) },
  { name: 'SINGLE_DH_USE', bits: 0 },
  { name: 'SINGLE_ECDH_USE', bits: 0 },
  { name: 'SSLEAY_080_CLIENT_DH_BUG', bits: 0 },
  { name: 'SSLREF2_REUSE_CERT_TYPE_BUG', bits: 0 },
  { name: 'TLS_BLOCK_PADDING_BUG', bits: 0 },
  { name: 'TLS_D5_BUG', bits: 0 },
  { name: 'TLSEXT_PADDING', bits: bit(4) },
  { name: 'TLS_ROLLBACK_BUG', bits: bit(23) },
];

/** The row for a name, case-insensitively (`no_sslv3` finds `NO_SSLv3`). */
export function tlsOptionByName(name: string): TlsOptionRow | undefined {
  const wanted = name.toUpperCase();
  return TLS_OPTIONS.find((row) => row.name.toUpperCase() === wanted);
}

/** stunnel's defaults, shown by `-version`. */
export const DEFAULT_TLS_OPTIONS: readonly string[] = ['NO_SSLv2', 'NO_SSLv3'];
