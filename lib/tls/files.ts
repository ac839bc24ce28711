/**
 * @module tls/files
 * Reads the files a TlsConfig names: certificate chains (PEM or PKCS#12), keys, CA
 * bundles and directories, CRLs, PSK secrets. Failures throw a ContextFileError whose
 * text is the line stunnel prints before `Failed to initialize TLS context`.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errnoText } from '../errno';

export class ContextFileError extends Error {}

const PEM_CERT = /-----BEGIN (?:TRUSTED |X509 )?CERTIFICATE-----[\s\S]+?-----END (?:TRUSTED |X509 )?CERTIFICATE-----/g;
const PEM_CRL = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g;

/** Reads a file or throws `WHAT: FILE: No such file or directory (2)`. */
export function readOrExplain(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ContextFileError(`${what}: ${file}: ${errnoText(err)}`);
  }
}

/** True when any "other" permission bit is set: stunnel warns `Insecure file permissions on FILE`. */
export function isWorldAccessible(file: string): boolean {
  try {
    return (statSync(file).mode & 0o007) !== 0;
  } catch {
    return false;
  }
}

/** PKCS#12 is chosen by extension, as stunnel does. */
export function isPkcs12(file: string): boolean {
  return /\.(p12|pfx)$/i.test(file);
}

/** Every PEM certificate block in `text`. */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

/** The first PEM private key block (PKCS#8, RSA, EC, encrypted…) in `text`, or null. */
export function pemPrivateKey(text: string): string | null {
  const m = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/.exec(text);
  return m ? m[0] : null;
}

function directoryFiles(what: string, dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    throw new ContextFileError(`${what}: ${dir}: ${errnoText(err)}`);
  }
  const files: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (statSync(path).isFile()) files.push(path);
    } catch {
      // dangling hash links are skipped, as OpenSSL's lookup would
    }
  }
  return files;
}

/** Trusted certificates from CAfile and every certificate file of CApath (hash links or not), deduplicated. */
export function trustedCertificates(caFile: string | null, caPath: string | null): string[] {
  const found = new Set<string>();
  if (caFile) for (const pem of pemCertificates(readOrExplain('SSL_CTX_load_verify_locations', caFile).toString())) found.add(pem);
  if (caPath) {
    for (const file of directoryFiles('SSL_CTX_load_verify_locations', caPath)) {
      for (const pem of pemCertificates(readFileSync(file, 'latin1'))) found.add(pem);
    }
  }
  return [...found];
}

/** CRLs from CRLfile and every file of CRLpath. */
export function revocationLists(crlFile: string | null, crlPath: string | null): string[] {
  const found: string[] = [];
  if (crlFile) found.push(...(readOrExplain('X509_STORE_load_locations', crlFile).toString().match(PEM_CRL) ?? []));
  if (crlPath) {
    for (const file of directoryFiles('X509_STORE_load_locations', crlPath)) {
      found.push(...(readFileSync(file, 'latin1').match(PEM_CRL) ?? []));
    }
  }
  return found;
}

/**
 * `PSKsecrets`: one `IDENTITY:KEY` per line. A key written as hex digits is decoded;
 * any key must give at least 16 bytes.
 */
export function pskSecrets(file: string): Map<string, Buffer> {
  const secrets = new Map<string, Buffer>();
  const text = readOrExplain('Failed to read PSK secrets', file).toString();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ContextFileError(`PSKsecrets ${file}, line ${index + 1}: Invalid syntax`);
    const keyText = line.slice(colon + 1);
    const key = /^(?:[0-9a-f]{2})+$/i.test(keyText) ? Buffer.from(keyText, 'hex') : Buffer.from(keyText);
    if (key.length < 16) throw new ContextFileError(`PSKsecrets ${file}, line ${index + 1}: Key too short`);
    secrets.set(line.slice(0, colon), key);
  }
  if (secrets.size === 0) throw new ContextFileError(`Failed to read PSK secrets: ${file}: no secrets found`);
  return secrets;
}
