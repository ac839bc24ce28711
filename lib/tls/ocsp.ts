/**
 * @module tls/ocsp
 * `OCSP = URL`, `OCSPaia`, `OCSPnonce`, `OCSPflag`: the peer's chain checked with OCSP
 * responders after the chain verification, as stunnel 5.68's verify callback does it, with
 * its lines. Every certificate of the chain but the root is checked, from the top down:
 *
 *   configured responder (if any) must say good ─▶ AIA responders (OCSPaia), in order, until
 *   one answers good or revoked: it must be good ─▶ next certificate ─▶ `Certificate accepted`
 *
 * Anything short of a signed, fresh `good` (responder down, silent past TIMEOUTbusy, garbage,
 * an error status, a bad signature, `unknown`) rejects: `Rejected by OCSP at depth=N`.
 * stunnel 5.68 staples nothing (neither side sends or asks for a stapled response), and a
 * resumed session is not checked again: its certificate is not verified again either.
 */
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { OcspFlag, TlsConfig } from '../config/model';
import { fetchResponse, type FetchLimits } from './ocsp-fetch';
import {
  asn1TimeText, buildRequest, checkValidity, CRL_REASONS, findStatus, nonceMatches, OcspError, parseResponse,
  RESPONSE_STATUS, verifyResponse, type Subject,
} from './ocsp-message';
import { subjectText, wantsOcsp, type Speaker } from './verify';

type Verdict = 'good' | 'revoked' | 'unknown';

/** What one check needs besides the socket. */
export interface OcspContext {
  readonly tls: TlsConfig;
  /** CAfile / CApath certificates: the trust anchors of responders' certificates. */
  readonly anchors: readonly X509Certificate[];
  readonly limits: FetchLimits;
  readonly log: Speaker;
}

/**
 * The peer's verified chain, leaf first, when OCSP checks are due: wanted, verification on,
 * a certificate received, not a resumed session (its certificate is not verified again).
 * Null otherwise. Take it BEFORE judgePeer: on a client socket Node 20 hands the peer's
 * certificate out once (after getPeerX509Certificate, getPeerCertificate returns nothing).
 * When it is not null, judgePeer leaves the `Certificate accepted at depth=0` line to
 * checkRevocation.
 */
export function ocspChain(socket: TLSSocket, tls: TlsConfig): X509Certificate[] | null {
  if (!wantsOcsp(tls) || !(tls.verify.chain || tls.verify.peer) || socket.isSessionReused()) return null;
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let current = socket.getPeerCertificate(true);
  while (current?.raw && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  return chain.length > 0 ? chain : null;
}

/** The OCSP URLs of a certificate's Authority Information Access. */
function aiaUrls(cert: X509Certificate): string[] {
  return (cert.infoAccess ?? '').split('\n')
    .filter((line) => line.startsWith('OCSP - URI:'))
    .map((line) => line.slice('OCSP - URI:'.length));
}

/** One request to one responder: the status it gives, `unknown` on any failure (logged). */
async function ask(url: string, subject: Subject, chain: readonly X509Certificate[], context: OcspContext): Promise<Verdict> {
  const { log, tls } = context;
  const request = buildRequest(subject, tls.ocsp.nonce);
  const der = await fetchResponse(url, request.der, context.limits, log);
  if (!der) return 'unknown';
  try {
    const { status, basic } = parseResponse(der);
    if (log.wants(7)) log.say(7, 'OCSP: Response received');
    if (!basic) {
      log.say(3, `OCSP: Responder error: ${status}: ${RESPONSE_STATUS[status] ?? '(UNKNOWN)'}`);
      return 'unknown';
    }
    if (request.nonce && !nonceMatches(basic, request.nonce)) {
      log.say(3, 'OCSP: Invalid or unsupported nonce');
      return 'unknown';
    }
    verifyResponse(basic, { subject, certId: request.certId, anchors: context.anchors, chain, flags: new Set<OcspFlag>(tls.ocsp.flags) });
    const answer = findStatus(basic, request.certId);
    log.say(6, `OCSP: Status: ${answer.status.kind}`);
    log.say(6, `OCSP: This update: ${asn1TimeText(answer.thisUpdate)}`);
    if (answer.nextUpdate) log.say(6, `OCSP: Next update: ${asn1TimeText(answer.nextUpdate)}`);
    checkValidity(answer);
    const found = answer.status;
    if (found.kind === 'good') log.say(5, 'OCSP: Certificate accepted');
    else if (found.kind === 'revoked') {
      log.say(3, found.reason === null ? 'OCSP: Certificate revoked'
        : `OCSP: Certificate revoked: ${found.reason}: ${CRL_REASONS[found.reason] ?? '(UNKNOWN)'}`);
      log.say(5, `OCSP: Revoked at: ${asn1TimeText(found.at)}`);
    } else log.say(4, 'OCSP: Unknown verification status');
    return found.kind;
  } catch (err) {
    // OpenSSL's text for a step that failed; any other error (a malformed response pkijs
    // could not take apart) rejects as well.
    log.say(3, `OCSP: ${err instanceof OcspError ? err.message : `OCSP_basic_verify: ${(err as Error).message}`}`);
    return 'unknown';
  }
}

/** One certificate: the configured responder, then the AIA ones. */
async function checkOne(subject: Subject, chain: readonly X509Certificate[], context: OcspContext): Promise<boolean> {
  const { ocsp } = context.tls;
  if (ocsp.url !== null) {
    context.log.say(5, `OCSP: Connecting the configured responder "${ocsp.url}"`);
    if (await ask(ocsp.url, subject, chain, context) !== 'good') return false;
  }
  if (!ocsp.aia) return true;
  const urls = aiaUrls(subject.cert);
  if (urls.length === 0) return true;
  let verdict: Verdict = 'unknown';
  for (const url of urls) {
    if (context.limits.signal.aborted) return false;
    context.log.say(5, `OCSP: Connecting the AIA responder "${url}"`);
    verdict = await ask(url, subject, chain, context);
    if (verdict !== 'unknown') break;
  }
  return verdict === 'good';
}

/**
 * Checks every certificate of the peer's chain but the root; writes the verdict line
 * (`Certificate accepted at depth=0` or `Rejected by OCSP at depth=N`). True when the
 * connection may proceed. Never rejects its promise for a responder's fault.
 */
export async function checkRevocation(chain: readonly X509Certificate[], context: OcspContext): Promise<boolean> {
  const { log } = context;
  if (log.wants(7)) log.say(7, 'OCSP: Ignoring root certificate');
  for (let depth = chain.length - 2; depth >= 0; depth--) {
    const subject = { cert: chain[depth], issuer: chain[depth + 1] };
    if (!await checkOne(subject, chain, context)) {
      log.say(4, `Rejected by OCSP at depth=${depth}: ${subjectText(chain[depth])}`);
      return false;
    }
  }
  log.say(5, `Certificate accepted at depth=0: ${subjectText(chain[0])}`);
  return true;
}
