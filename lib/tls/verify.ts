/**
 * @module tls/verify
 * Peer verification after the handshake, as stunnel's verify callback decides it.
 *
 * VERIFY MODES. stunnel's options fold into four switches (VerifyPolicy):
 *   request  ask the peer for a certificate (server side; a TLS client is always sent one)
 *   require  refuse a peer that sends none
 *   chain    the certificate must chain up to CAfile/CApath (`verifyChain`)
 *   peer     the certificate itself must be in CAfile/CApath (`verifyPeer`)
 * OpenSSL refuses a missing certificate inside the handshake (we ask for that when
 * `require` is set); chain, peer and checkHost/IP/Email are judged here, on the
 * finished handshake, so that `redirect` can still route a refused client elsewhere.
 */
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { LogLevel, TlsConfig } from '../config/model';
import { chainVerifyError } from '../node-internals';

/** Where connection lines go: `wants(level)` says whether a line at that level would be logged. */
export interface Speaker {
  say(level: LogLevel, text: string): void;
  wants(level: LogLevel): boolean;
}

/** The peer's subject as stunnel prints it: RFC 2253 order, `CN=localhost`. */
export function subjectText(cert: X509Certificate): string {
  return cert.subject.split('\n').reverse().join(',');
}

function subjectChecksPass(cert: X509Certificate, tls: TlsConfig, log: Speaker): boolean {
  if (tls.checkHost.length + tls.checkIP.length + tls.checkEmail.length === 0) {
    log.say(6, 'CERT: No subject checks configured');
    return true;
  }
  for (const host of tls.checkHost) {
    const matched = cert.checkHost(host);
    if (matched) { log.say(6, `CERT: Host name "${host}" matched with "${matched}"`); return true; }
  }
  for (const ip of tls.checkIP) {
    if (cert.checkIP(ip)) { log.say(6, `CERT: IP address "${ip}" matched`); return true; }
  }
  for (const email of tls.checkEmail) {
    if (cert.checkEmail(email)) { log.say(6, `CERT: Email address "${email}" matched`); return true; }
  }
  log.say(4, 'CERT: Subject checks failed');
  return false;
}

/**
 * Judges the peer of a finished handshake. Writes stunnel's CERT lines through `log`;
 * returns true when the connection may proceed.
 * @param trustedFingerprints SHA-256 fingerprints of the CAfile/CApath certificates (for `verifyPeer`).
 */
export function judgePeer(socket: TLSSocket, tls: TlsConfig, trustedFingerprints: ReadonlySet<string>, log: Speaker): boolean {
  const policy = tls.verify;
  // RESUMPTION. A resumed session is judged again, never waved through: a server's session and
  // ticket keep the client's certificate and its chain verdict, so the same rules give the same
  // verdict, and a session made without an acceptable peer stays refused (a client keeps only
  // sessions of accepted servers: engine/tunnel).
  const cert = socket.getPeerX509Certificate();
  if (!cert) {
    log.say(6, 'No peer certificate received');
    return !policy.require;
  }
  if (!policy.chain && !policy.peer) {
    log.say(6, 'Certificate verification disabled');
    return true;
  }
  const subject = subjectText(cert);
  if (policy.chain) {
    const failure = chainVerifyError(socket);
    if (failure) {
      log.say(4, `CERT: Pre-verification error: ${failure.message}`);
      log.say(4, `Rejected by CERT at depth=0: ${subject}`);
      return false;
    }
  }
  if (policy.peer && !trustedFingerprints.has(cert.fingerprint256)) {
    log.say(4, 'CERT: Certificate not found in local repository');
    log.say(4, `Rejected by CERT at depth=0: ${subject}`);
    return false;
  }
  if (!subjectChecksPass(cert, tls, log)) {
    log.say(4, `Rejected by CERT at depth=0: ${subject}`);
    return false;
  }
  // OCSP (tls/ocsp) comes next when configured: it writes the verdict line.
  if (!wantsOcsp(tls)) log.say(5, `Certificate accepted at depth=0: ${subject}`);
  return true;
}

/** The service asks for OCSP checks (`OCSP = URL` or `OCSPaia = yes`; made by tls/ocsp). */
export function wantsOcsp(tls: TlsConfig): boolean {
  return tls.ocsp.url !== null || tls.ocsp.aia;
}

/** Fingerprints of PEM certificates, for `verifyPeer`. */
export function fingerprints(pems: readonly string[]): Set<string> {
  return new Set(pems.map((pem) => new X509Certificate(pem).fingerprint256));
}
