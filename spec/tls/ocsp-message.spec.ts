/**
 * tls/ocsp-message: requests we build are answered by `openssl ocsp` (one-shot, -reqin/-respout,
 * no sockets), and the answers are judged as OpenSSL's OCSP_basic_verify judges them for
 * stunnel, OCSPflag by OCSPflag: who may sign, the nonce, freshness, the time format.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate, type Issued } from '../../lib/certs/selfsigned';
import type { OcspFlag } from '../../lib/config/model';
import {
  asn1TimeText, buildRequest, checkValidity, findStatus, nonceMatches, OcspError, parseResponse, verifyResponse,
} from '../../lib/tls/ocsp-message';
import { pki, type Pki } from '../helpers/pki';
import { assertPeers, skipWithout } from '../helpers/peers';

const skip = skipWithout('openssl');
let p: Pki;
let dir: string;
const signers: Record<string, Issued> = {};
let leaf: Issued;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

before(() => {
  if (skip) return;
  assertPeers('openssl');
  p = pki();
  dir = mkdtempSync(join(tmpdir(), 'stunnel-ts-ocspmsg-'));
  leaf = issueCertificate({ commonName: 'leaf', issuer: p.ca });
  signers.delegated = issueCertificate({ commonName: 'delegated', issuer: p.ca, ocspSigning: true });
  signers.noUsage = issueCertificate({ commonName: 'no usage', issuer: p.ca });
  signers.impostor = issueCertificate({ commonName: 'impostor', ocspSigning: true });
  signers.ca = p.ca;
  const cert = new X509Certificate(leaf.certPem);
  file('index.txt', `V\t301231000000Z\t\t${cert.serialNumber}\tunknown\t/CN=leaf\n`);
});

/** openssl ocsp answers our request for `leaf`, signed by `signer`. */
function answer(signer: string, withNonce: boolean, extra: string[] = []) {
  const subject = { cert: new X509Certificate(leaf.certPem), issuer: new X509Certificate(p.ca.certPem) };
  const request = buildRequest(subject, withNonce);
  const reqFile = file('req.der', '');
  writeFileSync(reqFile, request.der);
  const respFile = join(dir, 'resp.der');
  execFileSync('openssl', [
    'ocsp', '-index', join(dir, 'index.txt'), '-CA', p.caFile, '-rsigner', file('signer.pem', signers[signer].certPem),
    '-rkey', file('signer.key', signers[signer].keyPem), '-reqin', reqFile, '-respout', respFile, ...extra,
  ], { stdio: 'ignore' });
  const { status, basic } = parseResponse(readFileSync(respFile));
  assert.equal(status, 0);
  return { basic: basic!, request, subject };
}

function judge(signer: string, flags: OcspFlag[] = []): string | null {
  const { basic, request, subject } = answer(signer, false);
  try {
    verifyResponse(basic, {
      subject, certId: request.certId, anchors: [new X509Certificate(p.ca.certPem)],
      chain: [subject.cert, subject.issuer], flags: new Set(flags),
    });
    return null;
  } catch (err) {
    assert.ok(err instanceof OcspError);
    return err.message;
  }
}

describe('OCSP responses (tls/ocsp-message)', { skip }, () => {
  it('a responder the CA delegated to (OCSPSigning) is accepted, and says good', () => {
    assert.equal(judge('delegated'), null);
    const { basic, request } = answer('delegated', false);
    assert.equal(findStatus(basic, request.certId).status.kind, 'good');
  });

  it('the CA itself may sign, unless NOCASIGN', () => {
    assert.equal(judge('ca'), null);
    assert.equal(judge('ca', ['NOCASIGN']), 'OCSP_basic_verify: error:13800070:OCSP routines::root ca not trusted');
  });

  it('a delegated responder is refused with NODELEGATED', () => {
    assert.equal(judge('delegated', ['NODELEGATED']), 'OCSP_basic_verify: error:13800070:OCSP routines::root ca not trusted');
  });

  it('a certificate of the CA without OCSPSigning may not sign, unless NOCHECKS', () => {
    assert.equal(judge('noUsage'), 'OCSP_basic_verify: error:13800067:OCSP routines::missing ocspsigning usage');
    assert.equal(judge('noUsage', ['NOCHECKS']), null);
  });

  it('a signer no trusted CA issued is refused, unless NOVERIFY', () => {
    assert.equal(judge('impostor'), 'OCSP_basic_verify: error:13800065:OCSP routines::certificate verify error');
    assert.equal(judge('impostor', ['NOVERIFY']), null);
  });

  it('NOINTERN: the signer is not taken from the response', () => {
    assert.equal(judge('delegated', ['NOINTERN']), 'OCSP_basic_verify: error:13800076:OCSP routines::signer certificate not found');
  });

  it('a tampered response fails its signature check, unless NOSIGS', () => {
    const { basic, request, subject } = answer('delegated', false);
    const signature = basic.signature.valueBlock.valueHexView;
    signature[signature.length - 1] ^= 0xff;
    const context = {
      subject, certId: request.certId, anchors: [new X509Certificate(p.ca.certPem)], chain: [subject.cert, subject.issuer],
    };
    assert.throws(() => verifyResponse(basic, { ...context, flags: new Set() }), /signature failure/);
    assert.doesNotThrow(() => verifyResponse(basic, { ...context, flags: new Set<OcspFlag>(['NOSIGS']) }));
  });

  it('OCSPnonce: the responder repeats the nonce; a response without it does not match', () => {
    const withNonce = answer('delegated', true);
    assert.ok(withNonce.request.nonce);
    assert.equal(nonceMatches(withNonce.basic, withNonce.request.nonce), true);
    const without = answer('delegated', false);
    assert.equal(nonceMatches(without.basic, withNonce.request.nonce), false);
  });

  it('a stale or future answer is refused with OpenSSL\'s texts', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    const good = { kind: 'good' } as const;
    assert.doesNotThrow(() => checkValidity({ status: good, thisUpdate: new Date(now - 3600_000), nextUpdate: null }, now));
    assert.throws(() => checkValidity({ status: good, thisUpdate: new Date(now - 7200_000), nextUpdate: new Date(now - 120_000) }, now),
      { message: 'OCSP_check_validity: error:1380007D:OCSP routines::status expired' });
    assert.throws(() => checkValidity({ status: good, thisUpdate: new Date(now + 120_000), nextUpdate: null }, now),
      { message: 'OCSP_check_validity: error:1380007E:OCSP routines::status not yet valid' });
  });

  it('times print as ASN1_TIME_print does', () => {
    assert.equal(asn1TimeText(new Date('2026-12-02T19:32:29Z')), 'Dec  2 19:32:29 2026 GMT');
    assert.equal(asn1TimeText(new Date('2026-11-12T04:05:06Z')), 'Nov 12 04:05:06 2026 GMT');
  });

  it('garbage is not a response', () => {
    assert.throws(() => parseResponse(Buffer.from('not DER')), { message: 'OCSP_sendreq_nbio: error:1E80006E:HTTP routines::missing asn1 encoding' });
  });
});
