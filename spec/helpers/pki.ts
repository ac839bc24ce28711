/**
 * @module spec/helpers/pki
 * A fresh CA, server and client certificate per test run, written to a temp dir
 * (never committed). Server cert names: localhost, 127.0.0.1, ::1.
 */
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate, type Issued } from '../../lib/certs/selfsigned';

export interface Pki {
  readonly dir: string;
  readonly ca: Issued;
  readonly server: Issued;
  readonly client: Issued;
  /** Files: ca.pem, server.pem (cert), server.key, server-combined.pem (cert+key), client.pem, client.key, other-ca.pem. */
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly serverCombined: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed nothing here: verifying against it fails. */
  readonly otherCaFile: string;
}

let cached: Pki | null = null;

/** One PKI per test process (key generation is the slow part). */
export function pki(): Pki {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'stunnel-ts-pki-'));
  chmodSync(dir, 0o755);
  const ca = issueCertificate({ commonName: 'stunnel-ts test CA', isCA: true });
  const other = issueCertificate({ commonName: 'unrelated CA', isCA: true });
  const server = issueCertificate({
    commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], issuer: ca,
  });
  const client = issueCertificate({ commonName: 'client', emails: ['client@example.test'], issuer: ca });
  const put = (name: string, text: string, mode = 0o644) => {
    const file = join(dir, name);
    writeFileSync(file, text, { mode });
    chmodSync(file, mode);
    return file;
  };
  cached = {
    dir, ca, server, client,
    caFile: put('ca.pem', ca.certPem),
    serverCert: put('server.pem', server.certPem),
    serverKey: put('server.key', server.keyPem, 0o600),
    serverCombined: put('server-combined.pem', server.certPem + server.keyPem, 0o600),
    clientCert: put('client.pem', client.certPem),
    clientKey: put('client.key', client.keyPem, 0o600),
    otherCaFile: put('other-ca.pem', other.certPem),
  };
  return cached;
}
