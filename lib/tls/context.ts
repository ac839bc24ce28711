/**
 * @module tls/context
 * One service's TLS side, built once at prepare time and shared by every connection
 * of that service (Node core's habit: one SecureContext per server). node-forge is
 * never used here; everything is Node's own OpenSSL.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { LogLevel, ServiceConfig, TlsConfig } from '../config/model';
import {
  ContextFileError, isPkcs12, isWorldAccessible, pskSecrets, readOrExplain, revocationLists, trustedCertificates,
} from './files';
import { isEncryptedPem, type PassphraseBook } from './passphrase';
import { cipherString, secureOptions, versionRange } from './protocol';
import { BoundedCache, ServerSessionCache, sessionBinding, type ClientSessionCache } from './sessions';
import { renewTls13Tickets } from './ticket-renewal';
import { ticketKeys } from './tickets';
import { fingerprints, wantsOcsp } from './verify';

/** Building a context failed: `messages` are stunnel's lines, the last one `Service [x]: Failed to initialize TLS context`. */
export class ContextError extends Error {
  constructor(readonly messages: readonly string[]) {
    super(messages.join('\n'));
  }
}

export interface ServiceTls {
  readonly secureContext: SecureContext;
  /** Server side: ask the client for a certificate / let OpenSSL refuse a client without one. */
  readonly requestCert: boolean;
  readonly refuseWithoutCert: boolean;
  /** SHA-256 fingerprints of CAfile/CApath certificates (verifyPeer). */
  readonly trusted: ReadonlySet<string>;
  /** CAfile/CApath certificates, trust anchors of OCSP responses; empty without OCSP checks. */
  readonly ocspAnchors: readonly X509Certificate[];
  /**
   * Server side session-id cache (the `server` object handed to TLSSockets). As stunnel, a
   * server resumes by ticket and by session id (a TLS 1.2 client that sends no ticket, or
   * `options = NO_TICKET`), so the cache is kept whenever resumption is on. Null when it is off.
   * With it on, the context also renews the TLS 1.3 tickets it accepts (tls/ticket-renewal).
   */
  readonly serverSessions: ServerSessionCache | null;
  /** The digest sessions are bound to (tls/sessions `sessionBinding`): the workers mix it into their ticket keys. */
  readonly sessionBinding: string;
  /** Client side: last session per target; null when resumption is off. */
  readonly clientSessions: ClientSessionCache | null;
  /** Client side: the server name to send, or undefined. */
  readonly servername: string | undefined;
  readonly psk: ReadonlyMap<string, Buffer> | null;
  readonly pskIdentity: string | null;
}

/** A line to log at prepare time (`Insecure file permissions on F`). */
export interface ContextNotice {
  readonly level: LogLevel;
  readonly text: string;
}

/**
 * Every session of one service shares this id context, so tickets survive restarts and cross
 * processes, as long as the verification settings stay the same (OpenSSL allows 32 bytes).
 */
function sessionIdContext(binding: string): string {
  return binding.slice(0, 32);
}

/**
 * The server name a client sends: `sni =`, else the host of `protocolHost` (the server an
 * HTTP proxy connects to), else the first connect host. Node sends IP literals only with a
 * deprecation warning (RFC 6066 forbids them), so we send none for them.
 */
function clientServername(service: ServiceConfig): string | undefined {
  const wanted = service.tls.sni ?? protocolHostName(service) ?? firstConnectHost(service);
  if (!wanted || /^[\d.]+$|:/.test(wanted)) return undefined;
  return wanted;
}

/** `example.com` of `protocolHost = example.com:443` (`[::1]:443` gives `::1`). */
function protocolHostName(service: ServiceConfig): string | null {
  const host = service.protocolSettings.host;
  if (host === null) return null;
  const name = host.replace(/:\d*$/, '');
  return name.replace(/^\[(.*)\]$/, '$1') || null;
}

function firstConnectHost(service: ServiceConfig): string | null {
  const first = service.connect[0];
  if (!first || first.kind !== 'inet') return null;
  return first.host ?? 'localhost';
}

interface Stage {
  readonly label: string;
  readonly options: SecureContextOptions;
}

/** The context options in the order OpenSSL applies them, each with the API name stunnel reports. */
function stages(service: ServiceConfig, notices: ContextNotice[], keys: PassphraseBook): { stages: Stage[]; trusted: string[]; binding: string } {
  const tls = service.tls;
  let range;
  try {
    range = versionRange(tls);
  } catch (err) {
    throw new ContextFileError((err as Error).message);
  }
  const sessionCache: SecureContextOptions = {
    sessionTimeout: tls.sessionCacheTimeout > 0 ? tls.sessionCacheTimeout : undefined,
    ticketKeys: tls.ticketKeySecret && tls.ticketMacSecret
      ? ticketKeys(tls.ticketKeySecret, tls.ticketMacSecret) : undefined,
  };
  const list: Stage[] = [
    {
      label: 'SSL_CTX_set_cipher_list',
      options: { ...range, ciphers: cipherString(tls), secureOptions: secureOptions(tls, !service.client) },
    },
    { label: "Invalid groups list in 'curves'", options: { ecdhCurve: tls.curves || undefined } },
    { label: 'Session cache', options: sessionCache },
  ];
  if (tls.cert) {
    const keyFile = tls.key ?? tls.cert;
    if (isWorldAccessible(keyFile)) notices.push({ level: 4, text: `Insecure file permissions on ${keyFile}` });
    const warn = (text: string) => notices.push({ level: 3, text });
    if (isPkcs12(tls.cert)) {
      const pfx = readOrExplain('PKCS12 file', tls.cert);
      list.push({ label: `PKCS12_parse: ${tls.cert}`, options: { pfx, passphrase: keys.forPkcs12(tls.cert, pfx, warn) } });
    } else {
      list.push({ label: `SSL_CTX_use_certificate_chain_file: ${tls.cert}`, options: { cert: readOrExplain('SSL_CTX_use_certificate_chain_file', tls.cert) } });
      const key = readOrExplain('SSL_CTX_use_PrivateKey_file', keyFile);
      const passphrase = isEncryptedPem(key) ? keys.forPem(keyFile, key, warn) : undefined;
      list.push({ label: `SSL_CTX_use_PrivateKey_file: ${keyFile}`, options: { key, passphrase } });
    }
  }
  // `No trusted certificates found` is the configuration's notice (one per section), not ours.
  const trusted = trustedCertificates(tls.CAfile, tls.CApath);
  if (trusted.length > 0) list.push({ label: 'SSL_CTX_load_verify_locations', options: { ca: trusted } });
  const crl = revocationLists(tls.CRLfile, tls.CRLpath);
  if (crl.length > 0) list.push({ label: 'X509_STORE_load_locations', options: { crl } });
  const binding = sessionBinding(service, trusted, crl);
  // Servers only: on a client context OpenSSL refuses TLS 1.3 PSK sessions made without it.
  if (!service.client) sessionCache.sessionIdContext = sessionIdContext(binding);
  return { stages: list, trusted, binding };
}

/** OpenSSL's reason without Node's `…:error:` noise, e.g. `error:0A0000B9:SSL routines::no cipher match`. */
function openSslReason(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  const match = /error:([0-9A-F]{8}):([^:]*):[^:]*:([^:\n]*)/.exec(message);
  return match ? `error:${match[1]}:${match[2]}::${match[3]}` : message;
}

/** Builds the context, trying stages one by one only to name the one that failed. */
function buildContext(all: readonly Stage[]): SecureContext {
  const merged = all.reduce<SecureContextOptions>((acc, s) => ({ ...acc, ...s.options }), {});
  try {
    return createSecureContext(merged);
  } catch (fullError) {
    let acc: SecureContextOptions = {};
    for (const stage of all) {
      acc = { ...acc, ...stage.options };
      try {
        createSecureContext(acc);
      } catch (err) {
        throw new ContextFileError(`${stage.label}: ${openSslReason(err)}`);
      }
    }
    throw new ContextFileError(openSslReason(fullError));
  }
}

/**
 * Asks now for every passphrase the services' keys need: a daemon asks before it detaches
 * from the terminal. A file that cannot be read is left for the start to report.
 */
export function unlockKeys(services: readonly ServiceConfig[], keys: PassphraseBook, warn: (text: string) => void): void {
  for (const service of services) {
    const { cert, key } = service.tls;
    if (!cert) continue;
    const file = isPkcs12(cert) ? cert : key ?? cert;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      continue;
    }
    try {
      if (isPkcs12(cert)) keys.forPkcs12(file, bytes, warn);
      else if (isEncryptedPem(bytes)) keys.forPem(file, bytes, warn);
    } catch (err) {
      if (err instanceof ContextFileError) throw new ContextError([err.message, `Service [${service.name}]: Failed to initialize TLS context`]);
      throw err;
    }
  }
}

function serverNeedsCertificate(service: ServiceConfig): boolean {
  return !service.client && !service.tls.cert && !service.tls.PSKsecrets;
}

/**
 * Builds one service's TLS side. Throws ContextError with stunnel's lines.
 * `notices` receives prepare-time warnings to log; `keys` unlocks encrypted private keys.
 */
export function buildServiceTls(service: ServiceConfig, notices: ContextNotice[], keys: PassphraseBook): ServiceTls {
  const tls: TlsConfig = service.tls;
  const failed = `Service [${service.name}]: Failed to initialize TLS context`;
  if (serverNeedsCertificate(service)) {
    throw new ContextError([`Service [${service.name}]: TLS server needs a certificate`]);
  }
  try {
    const built = stages(service, notices, keys);
    const secureContext = buildContext(built.stages);
    const psk = tls.PSKsecrets ? pskSecrets(tls.PSKsecrets) : null;
    const resume = tls.sessionResume;
    if (!service.client && resume) renewTls13Tickets(secureContext);
    return {
      secureContext,
      requestCert: tls.verify.request || tls.verify.require || tls.verify.chain || tls.verify.peer,
      refuseWithoutCert: tls.verify.require && service.redirect.length === 0,
      trusted: tls.verify.peer ? fingerprints(built.trusted) : new Set(),
      ocspAnchors: wantsOcsp(tls) ? built.trusted.map((pem) => new X509Certificate(pem)) : [],
      serverSessions: !service.client && resume ? new ServerSessionCache(tls.sessionCacheSize) : null,
      sessionBinding: built.binding,
      clientSessions: service.client && resume ? new BoundedCache<Buffer>(tls.sessionCacheSize) : null,
      servername: service.client ? clientServername(service) : undefined,
      psk,
      pskIdentity: tls.PSKidentity ?? (psk ? psk.keys().next().value ?? null : null),
    };
  } catch (err) {
    if (err instanceof ContextFileError) throw new ContextError([err.message, failed]);
    throw new ContextError([openSslReason(err), failed]);
  }
}
