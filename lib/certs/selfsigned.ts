/**
 * @module certs/selfsigned
 * Certificate work with node-forge (never on the data path): self-signed and
 * CA-signed RSA certificates for the demo and for tests. Keys come from node:crypto.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CertRequest {
  readonly commonName: string;
  /** DNS names and IP addresses for subjectAltName. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly emails?: readonly string[];
  readonly isCA?: boolean;
  /** Validity, from one hour ago. Default 3 days. Negative days make an expired certificate. */
  readonly days?: number;
  /** Signed by this CA; self-signed when absent. */
  readonly issuer?: Issued;
  readonly bits?: number;
  /** OCSP responder URLs for the Authority Information Access extension. */
  readonly ocspUrls?: readonly string[];
  /** An OCSP responder's certificate: extended key usage OCSPSigning only. */
  readonly ocspSigning?: boolean;
}

/** authorityInfoAccess with one id-ad-ocsp accessLocation per URL (forge has no encoder for it). */
function authorityInfoAccess(urls: readonly string[]): object {
  const { asn1 } = forge;
  const descriptions = urls.map((url) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer('1.3.6.1.5.5.7.48.1').getBytes()),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, url),
  ]));
  return { id: '1.3.6.1.5.5.7.1.1', value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, descriptions) };
}

export function issueCertificate(req: CertRequest): Issued {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: req.bits ?? 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  const publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);

  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = '01' + randomBytes(8).toString('hex');
  const days = req.days ?? 3;
  const start = new Date(Date.now() - 3600_000);
  const end = new Date(Date.now() + days * 86400_000);
  cert.validity.notBefore = days < 0 ? new Date(end.getTime() - 86400_000) : start;
  cert.validity.notAfter = end;
  const subject = [{ name: 'commonName', value: req.commonName }];
  cert.setSubject(subject);

  let signingKey = forgeKey;
  if (req.issuer) {
    const caCert = forge.pki.certificateFromPem(req.issuer.certPem);
    cert.setIssuer(caCert.subject.attributes);
    signingKey = forge.pki.privateKeyFromPem(req.issuer.keyPem);
  } else {
    cert.setIssuer(subject);
  }

  const altNames: Array<{ type: number; value?: string; ip?: string }> = [];
  for (const dns of req.dnsNames ?? []) altNames.push({ type: 2, value: dns });
  for (const ip of req.ipAddresses ?? []) altNames.push({ type: 7, ip });
  for (const email of req.emails ?? []) altNames.push({ type: 1, value: email });
  const extensions: object[] = [
    { name: 'basicConstraints', cA: !!req.isCA, critical: !!req.isCA },
    req.isCA
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (req.ocspSigning) extensions.push({ name: 'extKeyUsage', '1.3.6.1.5.5.7.3.9': true });
  else if (!req.isCA) extensions.push({ name: 'extKeyUsage', serverAuth: true, clientAuth: true });
  if (req.ocspUrls?.length) extensions.push(authorityInfoAccess(req.ocspUrls));
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  cert.setExtensions(extensions);
  cert.sign(signingKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}
