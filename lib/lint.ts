/**
 * @module lint
 * `-test`: load the configuration completely without binding anything — every file
 * read, certificates and keys parsed and matched, every TLS context built by the
 * engine — then a security lint whose findings are warnings, each with its reason.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { loadConfig } from './config/load';
import type { Config, LogLevel, ServiceConfig } from './config/model';
import { Engine } from './engine/engine';
import { ConfigError, StartupError } from './errors';
import type { LogWriter } from './log';
import { isPkcs12, pemCertificates, pemPrivateKey } from './tls/files';
import { PassphraseBook, terminalAsker } from './tls/passphrase';

/** One lint warning: what was found and why it matters. */
export interface LintFinding {
  readonly service: string;
  readonly text: string;
  readonly reason: string;
}

const DAY_MS = 86400_000;
const OLD_VERSIONS = new Set(['SSLv3', 'TLSv1', 'TLSv1.1']);

/** All services of a configuration, with the prefix stunnel uses in their messages. */
function servicesOf(config: Config): Array<{ prefix: string; service: ServiceConfig }> {
  if (config.inetd) return [{ prefix: 'Inetd mode', service: config.inetd }];
  return config.services.map((service) => ({ prefix: `Service [${service.name}]`, service }));
}

/**
 * Parses the certificate chain and private key of one service and checks that they
 * belong together; also that CAfile holds certificates. Returns error messages.
 */
export function checkCredentials(prefix: string, service: ServiceConfig): string[] {
  const errors: string[] = [];
  const { cert, key, CAfile } = service.tls;
  let leaf: X509Certificate | null = null;
  if (cert !== null && !isPkcs12(cert)) {
    const blocks = pemCertificates(readFileSync(cert, 'latin1'));
    try {
      if (blocks.length === 0) throw new Error('no PEM certificate found');
      leaf = new X509Certificate(blocks[0]);
    } catch (err) {
      errors.push(`${prefix}: Cannot load the certificate from ${cert}: ${(err as Error).message}`);
    }
  }
  const keyFile = key ?? cert;
  if (keyFile !== null && !isPkcs12(keyFile)) {
    const pem = pemPrivateKey(readFileSync(keyFile, 'latin1'));
    let privateKey: KeyObject | null = null;
    if (pem === null) errors.push(`${prefix}: No private key found in ${keyFile}`);
    else if (/ENCRYPTED/.test(pem)) {
      // A passphrase-protected key is checked when the daemon starts (it asks for the passphrase).
    } else {
      try {
        privateKey = createPrivateKey(pem);
      } catch (err) {
        errors.push(`${prefix}: Cannot load the private key from ${keyFile}: ${(err as Error).message}`);
      }
    }
    if (leaf && privateKey && !leaf.checkPrivateKey(privateKey)) {
      errors.push(`${prefix}: Private key in ${keyFile} does not match the certificate in ${cert}`);
    }
  }
  if (CAfile !== null && pemCertificates(readFileSync(CAfile, 'latin1')).length === 0) {
    errors.push(`${prefix}: No certificate found in CAfile ${CAfile}`);
  }
  if (errors.length > 0) errors.push(`${prefix}: Failed to initialize TLS context`);
  return errors;
}

/** Security lint of a loaded configuration. */
export function lintConfig(config: Config, now = Date.now()): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const { prefix, service } of servicesOf(config)) {
    const add = (text: string, reason: string) => findings.push({ service: prefix, text, reason });
    const { tls } = service;
    if (service.client && !tls.verify.chain && !tls.verify.peer) {
      add('client mode without verifyChain or verifyPeer',
        'any server certificate is accepted, so anyone on the network path can impersonate the server');
    } else if (service.client && tls.verify.chain && !tls.verify.peer && tls.checkHost.length + tls.checkIP.length === 0) {
      add('client mode with verifyChain but no checkHost or checkIP',
        'any certificate issued by the trusted CAs is accepted, whatever host name it was issued for');
    }
    for (const [option, version] of [['sslVersionMin', tls.minVersion], ['sslVersionMax', tls.maxVersion]] as const) {
      if (version !== null && OLD_VERSIONS.has(version)) {
        add(`${option} allows ${version}`, `${version} is deprecated (RFC 8996) and has known weaknesses; use TLSv1.2 or later`);
      }
    }
    if (service.acceptProxy) {
      add('acceptProxy = yes',
        'anyone who can reach this accept address can claim any client address in the PROXY header; let only the balancer reach it');
    }
    const keyFile = tls.key ?? tls.cert;
    if (keyFile !== null) {
      try {
        if ((statSync(keyFile).mode & 0o007) !== 0) {
          add(`private key ${keyFile} is accessible by other users`, 'anyone on this machine can read the key and impersonate this service; chmod o-rwx');
        }
      } catch { /* reported by the file checks */ }
    }
    if (tls.cert !== null && !isPkcs12(tls.cert)) {
      try {
        const leaf = new X509Certificate(pemCertificates(readFileSync(tls.cert, 'latin1'))[0]);
        const expires = Date.parse(leaf.validTo);
        if (expires < now) add(`certificate ${tls.cert} expired on ${leaf.validTo}`, 'peers refuse an expired certificate');
        else if (expires < now + 30 * DAY_MS) {
          add(`certificate ${tls.cert} expires on ${leaf.validTo}`, 'less than 30 days left: renew it before peers start refusing it');
        }
      } catch { /* reported by checkCredentials */ }
    }
  }
  return findings;
}

/** Engine log lines during -test, in stunnel's short start-up form (`[!] text`). */
function stderrLog(say: (lines: string[]) => void): LogWriter {
  const marks = ['*', '*', '*', '!', ':', '.', ' ', ' '];
  return { write: (level: LogLevel, _id: string, text: string) => { if (level <= 4) say([`[${marks[level]}] ${text}`]); } };
}

/**
 * Runs `-test` and returns the exit code: 0 with `Configuration OK`, or 1 after
 * printing every error found. Lint findings are printed as warnings either way.
 */
export function testConfiguration(
  source: { file: string } | { fd: number }, say: (lines: string[]) => void,
): number {
  let config: Config;
  try {
    config = loadConfig(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    say([...err.messages.map((m) => `[!] ${m}`), '[!] Configuration failed']);
    return 1;
  }
  let errors = servicesOf(config).flatMap(({ prefix, service }) => checkCredentials(prefix, service));
  if (errors.length === 0) {
    try {
      new Engine(stderrLog(say), new PassphraseBook(terminalAsker())).prepare(config);
    } catch (err) {
      if (!(err instanceof StartupError || err instanceof ConfigError)) throw err;
      errors = errors.concat(err.messages);
    }
  }
  say(lintConfig(config).map((f) => `[:] ${f.service}: ${f.text} (${f.reason})`));
  if (errors.length > 0) {
    say([...errors.map((m) => `[!] ${m}`), '[!] Configuration failed']);
    return 1;
  }
  say(['Configuration OK']);
  return 0;
}
