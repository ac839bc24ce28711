/**
 * @module config/draft
 * The mutable state options write into while a file is read (`ServiceDraft`, `GlobalDraft`),
 * derived from the model: a draft is the frozen config with `readonly` taken off, minus the
 * fields build computes at the end of a section, plus the few fields only the draft has.
 * The defaults are written once, here; a new draft is a deep copy of them, a section starts
 * as a deep copy of the global part's draft, and a finished draft becomes its config by
 * dropping the draft-only fields.
 *
 * Adding a service option: its field in `model.ts`, its default in `SERVICE_DEFAULTS`, its
 * `row()` in `options.ts`. The compiler checks that the defaults name every field and that
 * no draft-only field leaks into the config.
 */
import type { GlobalConfig, ServiceConfig, SourceRef, TlsConfig } from './model';
import { DEFAULT_TLS_OPTIONS } from './tls-options';
import { DEFAULT_SOCKET_OPTIONS } from './values';

/**
 * `T` with `readonly` taken off its records, all the way down, and off its lists, whose items
 * keep the model's type (options push whole parsed values; they never change one in place).
 * Buffers stay as they are.
 */
export type Mutable<T> = T extends Buffer ? T
  : T extends readonly (infer Item)[] ? Item[]
  : T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> }
  : T;

/** The `ServiceConfig` fields build computes when a section ends, rather than copies from the draft. */
type ComputedServiceFields = 'name' | 'source' | 'sniPrimary' | 'sniPattern';

/** What only a service draft has. */
interface ServiceDraftOnly {
  /** Raw `sni` value: `PRIMARY:PATTERN` in a server section, the name to send in a client section. */
  sni: string | null;
  /** Parsed for stunnel's messages; only `none` is supported, so nothing reads it. */
  transparent: 'none' | 'source' | 'destination' | 'both';
  /** The last line that set each option (canonical name): for file checks and messages. */
  refs: Record<string, SourceRef>;
}

/** The mutable per-section state options write into while a file is read. */
export type ServiceDraft = Mutable<Omit<ServiceConfig, ComputedServiceFields | 'tls'>>
  & { tls: Mutable<Omit<TlsConfig, 'sni'>> }
  & ServiceDraftOnly;

/** The global part's own settings, with the line that set each option. */
export type GlobalDraft = Mutable<GlobalConfig> & { refs: Record<string, SourceRef> };

/** stunnel 5.68's defaults (shown by `-version`). */
export const DEFAULTS = {
  ciphers: 'HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK',
  ciphersuites: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256',
  curves: 'X25519:P-256:X448:P-521:P-384',
  securityLevel: 2,
  sessionCacheSize: 1000,
  sessionCacheTimeout: 300,
  stack: 65536,
  timeouts: { busy: 300, close: 60, connect: 10, idle: 43200 },
} as const;

/** Every service field's default: what a section holds before the global part or its own lines set anything. */
const SERVICE_DEFAULTS: ServiceDraft = {
  client: false, accept: [], connect: [], redirect: [], exec: null, execArgs: null, retry: false,
  failover: 'prio', delay: false, local: null, protocol: null,
  protocolSettings: { host: null, headers: [], username: null, password: null, authentication: null }, timeouts: { ...DEFAULTS.timeouts },
  socketOptions: [...DEFAULT_SOCKET_OPTIONS], reset: true, debugLevel: 5, logId: 'sequential',
  acceptUid: null, acceptGid: null, sni: null, transparent: 'none', acceptProxy: false, proxyVersion: 1,
  tls: {
    cert: null, key: null, CAfile: null, CApath: null, CRLfile: null, CRLpath: null,
    ciphers: DEFAULTS.ciphers, ciphersuites: DEFAULTS.ciphersuites, curves: DEFAULTS.curves,
    minVersion: null, maxVersion: null, optionsSet: [...DEFAULT_TLS_OPTIONS], optionsCleared: [],
    securityLevel: DEFAULTS.securityLevel, verify: { request: false, require: false, chain: false, peer: false },
    checkHost: [], checkIP: [], checkEmail: [], sessionCacheSize: DEFAULTS.sessionCacheSize,
    sessionCacheTimeout: DEFAULTS.sessionCacheTimeout, sessionResume: true, ticketKeySecret: null,
    ticketMacSecret: null, PSKsecrets: null, PSKidentity: null, renegotiation: true,
    ocsp: { url: null, aia: false, nonce: false, flags: [] },
  },
  refs: {},
};

/** Every global field's default. */
const GLOBAL_DEFAULTS: GlobalDraft = {
  foreground: 'no', pid: null, chroot: null, setuid: null, setgid: null, service: 'stunnel',
  debugLevel: 5, syslogFacility: 'daemon', syslog: true, output: null, logMode: 'append', workers: 1, drainTimeout: 0,
  metrics: null, logFormat: 'text', refs: {},
};

export function newGlobalDraft(): GlobalDraft {
  return deepCopy(GLOBAL_DEFAULTS);
}

export function newServiceDraft(): ServiceDraft {
  return deepCopy(SERVICE_DEFAULTS);
}

/** A section starts as a copy of the global part's service values (lists copied, then appended to). */
export function cloneServiceDraft(d: ServiceDraft): ServiceDraft {
  return deepCopy(d);
}

/**
 * A copy of `value` that shares no array or plain object with it. Anything else (a Buffer, a
 * primitive) is shared: options replace such values, they never change them in place.
 */
export function deepCopy<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(deepCopy) as T;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const key in value) copy[key] = deepCopy(value[key]);
  return copy as T;
}

/** `A`, if it has no key that `B` lacks (otherwise `never`, so that the assignment fails to compile). */
type NoKeysBeyond<A, B> = Exclude<keyof A, keyof B> extends never ? A : never;

/** The global part's config: the draft without its `refs`. */
export function toGlobalConfig(g: GlobalDraft): GlobalConfig {
  const { refs, ...same } = g;
  const config: NoKeysBeyond<typeof same, GlobalConfig> = same;
  return config;
}

/**
 * A finished section's config: the draft's fields as they are, the computed ones from build,
 * and the two TLS fields that differ: `key` defaults to `cert`, and `sni` (the name to send)
 * exists only in client mode (a server section's `sni` became `sniPrimary`/`sniPattern`).
 */
export function toServiceConfig(d: ServiceDraft, computed: Pick<ServiceConfig, ComputedServiceFields>): ServiceConfig {
  const { sni, transparent, refs, tls, ...same } = d;
  const copied: NoKeysBeyond<typeof same, ServiceConfig> = same;
  const tlsCopied: NoKeysBeyond<typeof tls, TlsConfig> = tls;
  return {
    name: computed.name, source: computed.source, ...copied, sniPrimary: computed.sniPrimary, sniPattern: computed.sniPattern,
    tls: { ...tlsCopied, key: tls.key ?? tls.cert, sni: d.client ? sni : null },
  };
}
