/**
 * @module bench/lib/certs
 * Fresh server certificates for each run with the openssl CLI: RSA-2048 (the usual case) and
 * ECDSA P-256 (the cheap handshake), self-signed for 127.0.0.1 — load generators do not verify.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const KEY_OPTIONS = {
  rsa: ['-newkey', 'rsa:2048'],
  ecdsa: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
};

/** Writes DIR/KIND-cert.pem and DIR/KIND-key.pem; returns their paths. */
export function makeCertificate(dir, kind) {
  const certFile = join(dir, `${kind}-cert.pem`);
  const keyFile = join(dir, `${kind}-key.pem`);
  execFileSync('openssl', [
    'req', '-x509', ...KEY_OPTIONS[kind], '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { kind, certFile, keyFile };
}
