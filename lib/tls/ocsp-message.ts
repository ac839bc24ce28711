/**
 * @module tls/ocsp-message
 * OCSP's messages (RFC 6960) with pkijs/asn1js: the request for one certificate, and the
 * response judged as OpenSSL's OCSP_basic_verify + OCSP_resp_find_status +
 * OCSP_check_validity judge it for stunnel, with `OCSPflag` bits. Pure: no I/O, no logging;
 * failures are `OcspError`s carrying the OpenSSL text stunnel logs.
 *
 * WHO MAY SIGN. The signer is looked up by the response's ResponderID among the certificates
 * in the response (unless NOINTERN) and the peer's chain. Its own chain must reach a CAfile /
 * CApath certificate (unless NOVERIFY, or TRUSTOTHER for a signer from the peer's chain).
 * Then (unless NOCHECKS) it must be the issuer of the checked certificate (unless NOCASIGN)
 * or a certificate that issuer signed with the OCSPSigning extended key usage (unless
 * NODELEGATED). NOCASIGN and NODELEGATED are enforced as their names say: OpenSSL 3, hence
 * stunnel 5.68, accepts them and ignores them (a flag that asks for a check gets it here).
 * NOCERTS and RESPID_KEY are about signing requests and responses: nothing to verify.
 */
import { createHash, randomBytes, verify as verifySignature, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { OcspFlag } from '../config/model';


/** A failed step: `where` is the OpenSSL function stunnel names, `text` OpenSSL's error line. */
export class OcspError extends Error {
  constructor(readonly where: string, readonly text: string) {
    super(`${where}: ${text}`);
  }
}

const OID_SHA1 = '1.3.14.3.2.26';
const OID_NONCE = '1.3.6.1.5.5.7.48.1.2';
const OID_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OID_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
/** Signature algorithms of responses: OID → hash for node:crypto (RSA PKCS#1 v1.5, ECDSA, EdDSA). */
const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1', '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512', '1.2.840.10045.4.1': 'sha1', '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512', '1.3.101.112': null, '1.3.101.113': null,
};
/** OpenSSL's OCSP_response_status_str. */
export const RESPONSE_STATUS: Record<number, string> = {
  0: 'successful', 1: 'malformedrequest', 2: 'internalerror', 3: 'trylater', 5: 'sigrequired', 6: 'unauthorized',
};
/** OpenSSL's OCSP_crl_reason_str. */
export const CRL_REASONS: Record<number, string> = {
  0: 'unspecified', 1: 'keyCompromise', 2: 'cACompromise', 3: 'affiliationChanged', 4: 'superseded',
  5: 'cessationOfOperation', 6: 'certificateHold', 8: 'removeFromCRL', 9: 'privilegeWithdrawn', 10: 'aACompromise',
};

const ocspError = (reason: number, text: string) => `error:${(0x13800000 | reason).toString(16).toUpperCase()}:OCSP routines::${text}`;
const ERR = {
  notBasic: ocspError(0x68, 'not basic response'),
  signerNotFound: ocspError(0x76, 'signer certificate not found'),
  signature: ocspError(0x75, 'signature failure'),
  verify: ocspError(0x65, 'certificate verify error'),
  noSigningUsage: ocspError(0x67, 'missing ocspsigning usage'),
  rootNotTrusted: ocspError(0x70, 'root ca not trusted'),
  expired: ocspError(0x7d, 'status expired'),
  notYetValid: ocspError(0x7e, 'status not yet valid'),
  noStatus: ocspError(0x6b, 'response contains no revocation data'),
  asn1: 'error:1E80006E:HTTP routines::missing asn1 encoding',
} as const;

/** The certificate to check and its issuer, as DER. */
export interface Subject {
  readonly cert: X509Certificate;
  readonly issuer: X509Certificate;
}

export interface Request {
  readonly der: Buffer;
  readonly nonce: Buffer | null;
  readonly certId: pkijs.CertID;
}

function parseCert(cert: X509Certificate): pkijs.Certificate {
  return pkijs.Certificate.fromBER(cert.raw);
}

const sha1 = (data: Uint8Array | ArrayBuffer) => createHash('sha1').update(data instanceof ArrayBuffer ? new Uint8Array(data) : data).digest();

/** SHA-1 of the public key's BIT STRING contents: the issuerKeyHash / byKey ResponderID. */
function keyHash(cert: pkijs.Certificate): Buffer {
  return sha1(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView);
}

/** The CertID OpenSSL's OCSP_cert_to_id builds (SHA-1). */
function certId(subject: Subject): pkijs.CertID {
  const cert = parseCert(subject.cert);
  const issuer = parseCert(subject.issuer);
  return new pkijs.CertID({
    hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID_SHA1, algorithmParams: new asn1js.Null() }),
    issuerNameHash: new asn1js.OctetString({ valueHex: sha1(issuer.subject.toSchema().toBER()) }),
    issuerKeyHash: new asn1js.OctetString({ valueHex: keyHash(issuer) }),
    serialNumber: cert.serialNumber,
  });
}

/** An unsigned request for one certificate; with a nonce when `OCSPnonce = yes`. */
export function buildRequest(subject: Subject, withNonce: boolean): Request {
  const id = certId(subject);
  const request = new pkijs.OCSPRequest();
  request.tbsRequest.requestList = [new pkijs.Request({ reqCert: id })];
  let nonce: Buffer | null = null;
  if (withNonce) {
    // As OpenSSL: the extension's value is an OCTET STRING holding 16 random bytes.
    nonce = Buffer.from(new asn1js.OctetString({ valueHex: randomBytes(16) }).toBER());
    request.tbsRequest.requestExtensions = [new pkijs.Extension({ extnID: OID_NONCE, extnValue: new Uint8Array(nonce).buffer })];
  }
  return { der: Buffer.from(request.toSchema(true).toBER()), nonce, certId: id };
}

export type CertStatus =
  | { readonly kind: 'good' }
  | { readonly kind: 'revoked'; readonly at: Date; readonly reason: number | null }
  | { readonly kind: 'unknown' };

/** What a response says of the requested certificate, once its signature and signer are accepted. */
export interface Answer {
  readonly status: CertStatus;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
}

/** The response's outer status: a number other than 0 is the responder's error. */
export function parseResponse(der: Buffer): { status: number; basic: pkijs.BasicOCSPResponse | null } {
  let response: pkijs.OCSPResponse;
  try {
    response = pkijs.OCSPResponse.fromBER(der);
  } catch {
    throw new OcspError('OCSP_sendreq_nbio', ERR.asn1);
  }
  const status = response.responseStatus.valueBlock.valueDec;
  if (status !== 0) return { status, basic: null };
  const bytes = response.responseBytes;
  if (!bytes || bytes.responseType !== OID_BASIC) throw new OcspError('OCSP_response_get1_basic', ERR.notBasic);
  try {
    return { status, basic: pkijs.BasicOCSPResponse.fromBER(bytes.response.valueBlock.valueHexView) };
  } catch {
    throw new OcspError('OCSP_response_get1_basic', ERR.notBasic);
  }
}

/** OCSP_check_nonce > 0: the response carries the request's nonce. */
export function nonceMatches(basic: pkijs.BasicOCSPResponse, nonce: Buffer): boolean {
  const ext = basic.tbsResponseData.responseExtensions?.find((e) => e.extnID === OID_NONCE);
  return ext !== undefined && Buffer.from(ext.extnValue.valueBlock.valueHexView).equals(nonce);
}

function sameCert(a: X509Certificate, b: X509Certificate): boolean {
  return a.fingerprint256 === b.fingerprint256;
}

function validNow(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/** `parent` signed `child`. */
function signed(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

/** The signer's chain reaches a trusted certificate through `untrusted` ones. */
function chainTrusted(signer: X509Certificate, anchors: readonly X509Certificate[], untrusted: readonly X509Certificate[], checkTime: boolean): boolean {
  const now = Date.now();
  let current = signer;
  for (let depth = 0; depth < 10; depth++) {
    if (checkTime && !validNow(current, now)) return false;
    if (anchors.some((a) => sameCert(a, current))) return true;
    const anchor = anchors.find((a) => signed(current, a));
    if (anchor) return !checkTime || validNow(anchor, now);
    const next = untrusted.find((c) => !sameCert(c, current) && signed(current, c));
    if (!next) return false;
    current = next;
  }
  return false;
}

function findSigner(basic: pkijs.BasicOCSPResponse, candidates: readonly X509Certificate[]): X509Certificate | null {
  // pkijs gives the ResponderID as the Name (byName) or the OCTET STRING (byKey).
  const responder: unknown = basic.tbsResponseData.responderID;
  if (responder instanceof pkijs.RelativeDistinguishedNames) {
    const wanted = Buffer.from(responder.toSchema().toBER());
    return candidates.find((c) => Buffer.from(parseCert(c).subject.toSchema().toBER()).equals(wanted)) ?? null;
  }
  if (!(responder instanceof asn1js.OctetString)) return null;
  const wanted = Buffer.from(responder.valueBlock.valueHexView);
  return candidates.find((c) => keyHash(parseCert(c)).equals(wanted)) ?? null;
}

function signatureValid(basic: pkijs.BasicOCSPResponse, signer: X509Certificate): boolean {
  const oid = basic.signatureAlgorithm.algorithmId;
  if (!(oid in SIGNATURE_HASHES)) return false;
  try {
    return verifySignature(SIGNATURE_HASHES[oid], basic.tbsResponseData.tbsView, signer.publicKey,
      basic.signature.valueBlock.valueHexView);
  } catch {
    return false;
  }
}

/** The issuer check (ocsp_check_issuer): the CA itself, or a responder it delegated to. */
function issuerCheck(signer: X509Certificate, subject: Subject, flags: ReadonlySet<OcspFlag>): string | null {
  if (sameCert(signer, subject.issuer)) return flags.has('NOCASIGN') ? ERR.rootNotTrusted : null;
  if (flags.has('NODELEGATED') || !signed(signer, subject.issuer)) return ERR.rootNotTrusted;
  return (signer.keyUsage ?? []).includes(OID_OCSP_SIGNING) ? null : ERR.noSigningUsage;
}

export interface VerifyContext {
  readonly subject: Subject;
  readonly certId: pkijs.CertID;
  /** CAfile / CApath certificates. */
  readonly anchors: readonly X509Certificate[];
  /** The peer's chain, as OpenSSL verified it. */
  readonly chain: readonly X509Certificate[];
  readonly flags: ReadonlySet<OcspFlag>;
}

/** OCSP_basic_verify with stunnel's flags; throws OcspError. */
export function verifyResponse(basic: pkijs.BasicOCSPResponse, context: VerifyContext): void {
  const { flags, chain, anchors, subject } = context;
  const carried = (basic.certs ?? []).map((c) => new X509Certificate(Buffer.from(c.toSchema().toBER())));
  const candidates = flags.has('NOINTERN') ? [...chain] : [...carried, ...chain];
  const signer = findSigner(basic, candidates);
  if (!signer) throw new OcspError('OCSP_basic_verify', ERR.signerNotFound);
  if (!flags.has('NOSIGS') && !signatureValid(basic, signer)) throw new OcspError('OCSP_basic_verify', ERR.signature);
  // TRUSTOTHER: a signer from the peer's chain is taken as trusted, as with NOVERIFY.
  if (flags.has('NOVERIFY') || (flags.has('TRUSTOTHER') && chain.some((c) => sameCert(c, signer)))) return;
  const untrusted = flags.has('NOCHAIN') ? [...chain] : [...carried, ...chain];
  if (!chainTrusted(signer, anchors, untrusted, !flags.has('NOTIME'))) throw new OcspError('OCSP_basic_verify', ERR.verify);
  if (flags.has('NOCHECKS')) return;
  const problem = issuerCheck(signer, subject, flags);
  if (problem) throw new OcspError('OCSP_basic_verify', problem);
}

function sameId(a: pkijs.CertID, b: pkijs.CertID): boolean {
  const bytes = (x: pkijs.CertID) => Buffer.from(x.toSchema().toBER());
  return bytes(a).equals(bytes(b));
}

/** OCSP_resp_find_status: the single response about our certificate. */
export function findStatus(basic: pkijs.BasicOCSPResponse, id: pkijs.CertID): Answer {
  const single = basic.tbsResponseData.responses.find((r) => sameId(r.certID, id));
  if (!single) throw new OcspError('OCSP_resp_find_status', ERR.noStatus);
  const block = single.certStatus as asn1js.BaseBlock;
  let status: CertStatus = { kind: 'unknown' };
  if (block.idBlock.tagNumber === 0) status = { kind: 'good' };
  else if (block.idBlock.tagNumber === 1) {
    const parts = (block as asn1js.Constructed).valueBlock.value;
    const at = (parts[0] as asn1js.GeneralizedTime).toDate();
    const reasonBlock = parts[1] as asn1js.Constructed | undefined;
    const reason = reasonBlock ? (reasonBlock.valueBlock.value[0] as asn1js.Enumerated).valueBlock.valueDec : null;
    status = { kind: 'revoked', at, reason };
  }
  return { status, thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate ?? null };
}

/** OCSP_check_validity(thisUpdate, nextUpdate, 60 s, no maximum age); throws OcspError. */
export function checkValidity(answer: Answer, now = Date.now()): void {
  const skew = 60_000;
  if (answer.thisUpdate.getTime() > now + skew) throw new OcspError('OCSP_check_validity', ERR.notYetValid);
  if (answer.nextUpdate && answer.nextUpdate.getTime() < now - skew) throw new OcspError('OCSP_check_validity', ERR.expired);
}

/** ASN1_TIME_print: `Dec  2 19:32:29 2026 GMT`. */
export function asn1TimeText(date: Date): string {
  const month = date.toUTCString().slice(8, 11);
  const day = String(date.getUTCDate()).padStart(2, ' ');
  const time = date.toISOString().slice(11, 19);
  return `${month} ${day} ${time} ${date.getUTCFullYear()} GMT`;
}
