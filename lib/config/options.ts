/**
 * @module config/options
 * THE option table: one row per option of stunnel 5.68 (Unix build) plus the
 * stunnel-ts extensions (`workers`, `TIMEOUTdrain`, `acceptProxy`, `proxyVersion`). A row says where the option may appear, how its
 * value is parsed, what it sets in the draft configuration, whether it repeats, and
 * whether stunnel-ts supports it, accepts it with a notice (it has no meaning here),
 * or refuses it with a reason.
 *
 * SCOPE, as stunnel reads it: a `global` option is valid only before the first
 * `[section]`. A `service` option may appear anywhere; written in the global part it
 * becomes the default of every later section (each section starts as a copy of the
 * global values: scalars are then overridden, lists appended to). A few service
 * options (`debug`, `setuid`, `setgid`, `service`) also configure the process itself
 * when written in the global part.
 */
import { availableParallelism } from 'node:os';
import { DEFAULTS, type GlobalDraft, type ServiceDraft } from './draft';
import { OCSP_FLAGS, type Address, type LogLevel } from './model';
import {
  parseAddress, parseDebug, parseGroup, parseInteger, parseKeyword,
  parseSocketOption, parseTargetAddress, parseTicketSecret, parseTlsOption, parseTlsVersion, parseUser, parseYesNo, ValueError,
} from './values';
import { DEFAULT_TLS_OPTIONS } from './tls-options';

// ---------------------------------------------------------------- the row type

export type OptionStatus =
  | { readonly kind: 'supported' }
  /** Accepted, but it has no meaning in stunnel-ts: a notice is logged at `level` (default LOG5). */
  | { readonly kind: 'notice'; readonly text: string; readonly level?: LogLevel }
  /**
   * Refused: `Not supported by stunnel-ts: ` and the reason; or, when stunnel 5.68 itself refuses
   * the value on a build like ours (`stunnel`), the reason alone, in stunnel's words.
   */
  | { readonly kind: 'refused'; readonly reason: string; readonly words?: 'stunnel' };

export interface ParseContext {
  /** The line is in the global part (before the first section). */
  readonly inGlobal: boolean;
}

/** Where an applied value goes: the global part also writes the process-wide settings. */
export interface ApplyTarget {
  readonly global: GlobalDraft | null;
  readonly service: ServiceDraft;
}

export interface OptionRow {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly scope: 'global' | 'service';
  readonly repeatable: boolean;
  /** `-help` text after `NAME = `; continuation lines after `\n`. null = not listed. */
  readonly help: string | null;
  /** `-version` default lines (value part), in table order. */
  readonly versionDefaults: readonly string[];
  readonly parse: (value: string, ctx: ParseContext) => unknown;
  readonly status: (parsed: unknown) => OptionStatus;
  readonly apply: (target: ApplyTarget, parsed: unknown) => void;
}

const SUPPORTED: OptionStatus = { kind: 'supported' };

interface RowSpec<T> {
  name: string;
  aliases?: readonly string[];
  scope: 'global' | 'service';
  repeatable?: boolean;
  help: string | null;
  versionDefaults?: readonly string[];
  parse: (value: string, ctx: ParseContext) => T;
  status?: OptionStatus | ((parsed: T) => OptionStatus);
  apply?: (target: ApplyTarget, parsed: T) => void;
}

function row<T>(spec: RowSpec<T>): OptionRow {
  const status = spec.status ?? SUPPORTED;
  return {
    name: spec.name,
    aliases: spec.aliases ?? [],
    scope: spec.scope,
    repeatable: spec.repeatable ?? false,
    help: spec.help,
    versionDefaults: spec.versionDefaults ?? [],
    parse: spec.parse,
    status: typeof status === 'function' ? (p) => status(p as T) : () => status,
    apply: (target, parsed) => spec.apply?.(target, parsed as T),
  };
}

// ---------------------------------------------------------------- value helpers

const text = (value: string) => value;
const pathOrNull = (value: string) => (value === '' ? null : value);
const int = (message: string, min?: number, max?: number) => (value: string) => parseInteger(value, message, min, max);
/** `connect`/`redirect` targets: an unknown port name is a warning, as stunnel only delays the lookup. */
function parseTarget(value: string): { address: Address; warning: string | null } {
  let warning: string | null = null;
  const address = parseTargetAddress(value, (message) => { warning = message; });
  return { address, warning };
}
const targetStatus = (p: { warning: string | null }): OptionStatus => (p.warning
  ? notice(`${p.warning}: connections to this target will fail`, 4)
  : SUPPORTED);
const notice = (text: string, level?: LogLevel): OptionStatus => ({ kind: 'notice', text, level });
const refused = (reason: string): OptionStatus => ({ kind: 'refused', reason });
const refusedAsStunnel = (text: string): OptionStatus => ({ kind: 'refused', reason: text, words: 'stunnel' });
const onlyGlobal = <T>(apply: (g: GlobalDraft, v: T) => void) => (t: ApplyTarget, v: T): void => {
  if (t.global) apply(t.global, v);
};

/** Protocols stunnel 5.68 knows; only `proxy` is implemented by the stunnel-ts engine. */
export const KNOWN_PROTOCOLS = ['cifs', 'capwin', 'capwinctrl', 'connect', 'imap', 'ldap', 'nntp', 'pgsql', 'pop3', 'proxy', 'smtp', 'socks'] as const;
export const SUPPORTED_PROTOCOLS = ['proxy', 'smtp', 'pop3', 'imap', 'connect', 'socks', 'pgsql', 'nntp', 'ldap'] as const;
/** The protocols stunnel-ts negotiates with the server before TLS, in client mode (engine/negotiate). */
export const CLIENT_PROTOCOLS = ['smtp', 'pop3', 'imap', 'connect', 'pgsql', 'nntp', 'ldap'] as const;
export type ClientProtocol = (typeof CLIENT_PROTOCOLS)[number];

export function isClientProtocol(protocol: string | null): protocol is ClientProtocol {
  return (CLIENT_PROTOCOLS as readonly string[]).includes(protocol ?? '');
}
/**
 * The protocols stunnel-ts speaks with the client before TLS in server mode, for a backend it
 * has connected first (its greeting is part of the dialogue).
 */
export const SERVER_PROTOCOLS = ['smtp', 'pop3', 'imap'] as const;
export type ServerProtocol = (typeof SERVER_PROTOCOLS)[number];

export function isServerProtocol(protocol: string | null): protocol is ServerProtocol {
  return (SERVER_PROTOCOLS as readonly string[]).includes(protocol ?? '');
}

/** Client-mode protocols that also exist in server mode (as a dialogue or, for pgsql, before any backend). */
export function servesBothModes(protocol: string | null): boolean {
  return isServerProtocol(protocol) || protocol === 'pgsql';
}

const ENGINE_REASON = 'Node.js gives no access to OpenSSL ENGINE modules (deprecated in OpenSSL 3); use key and certificate files';

const VERIFY_LEVELS: Record<number, [boolean, boolean, boolean, boolean]> = {
  // request, require, chain, peer
  0: [true, false, false, false],
  1: [true, false, true, false],
  2: [true, true, true, false],
  3: [true, true, true, true],
  4: [true, true, false, true],
};

// ---------------------------------------------------------------- the table

export const OPTIONS: readonly OptionRow[] = [
  // ----- global options (valid only before the first section)
  row({
    name: 'chroot', scope: 'global', help: 'directory to chroot stunnel process', parse: text,
    apply: onlyGlobal((g, v: string) => { g.chroot = pathOrNull(v); }),
  }),
  row({
    name: 'compression', scope: 'global', help: 'compression type',
    parse: (v) => parseKeyword(v, ['deflate', 'zlib'] as const, 'Specified compression type is not available'),
    // stunnel 5.68 parses it and then fails at TLS initialisation (checked in build).
  }),
  row({
    name: 'EGD', scope: 'global', help: 'path to Entropy Gathering Daemon socket', parse: text,
    status: notice('ignored: OpenSSL 3 seeds itself, as in stunnel 5.68'),
  }),
  row({ name: 'engine', scope: 'global', help: 'auto|engine_id', parse: text, status: refused(ENGINE_REASON) }),
  row({ name: 'engineCtrl', scope: 'global', repeatable: true, help: 'cmd[:arg]', parse: text, status: refused(ENGINE_REASON) }),
  row({ name: 'engineDefault', scope: 'global', help: 'TASK_LIST', parse: text, status: refused(ENGINE_REASON) }),
  row({
    name: 'fips', scope: 'global', help: null, parse: parseYesNo,
    // stunnel 5.68's words when its OpenSSL has no FIPS provider (its test suite skips on them).
    status: (on) => on ? refusedAsStunnel('FIPS provider not available') : notice('ignored: FIPS mode is off, as by default'),
  }),
  row({
    name: 'foreground', scope: 'global', help: "yes|quiet|no foreground mode (don't fork, log to stderr)",
    parse: (v) => parseKeyword(v, ['yes', 'quiet', 'no'] as const, "The argument needs to be either 'yes', 'quiet' or 'no'"),
    apply: onlyGlobal((g, v: GlobalDraft['foreground']) => { g.foreground = v; }),
  }),
  row({
    name: 'log', scope: 'global', help: 'append|overwrite log file',
    parse: (v) => parseKeyword(v, ['append', 'overwrite'] as const, "The argument needs to be either 'append' or 'overwrite'"),
    apply: onlyGlobal((g, v: GlobalDraft['logMode']) => { g.logMode = v; }),
  }),
  row({
    name: 'output', scope: 'global', help: 'file to append log messages', parse: text,
    apply: onlyGlobal((g, v: string) => { g.output = pathOrNull(v); }),
  }),
  row({
    name: 'pid', scope: 'global', help: 'pid file', parse: text,
    apply: onlyGlobal((g, v: string) => { g.pid = pathOrNull(v); }),
  }),
  row({
    name: 'RNDbytes', scope: 'global', help: 'bytes to read from random seed files', versionDefaults: ['1024'],
    parse: int('Illegal number of bytes to read from random seed files'),
    status: notice('ignored: OpenSSL 3 seeds itself, as in stunnel 5.68'),
  }),
  row({
    name: 'RNDfile', scope: 'global', help: 'path to file with random seed data', versionDefaults: ['/dev/urandom'],
    parse: text, status: notice('ignored: OpenSSL 3 seeds itself, as in stunnel 5.68'),
  }),
  row({
    name: 'RNDoverwrite', scope: 'global', help: 'yes|no overwrite seed datafiles with new random data',
    versionDefaults: ['yes'], parse: parseYesNo, status: notice('ignored: OpenSSL 3 seeds itself, as in stunnel 5.68'),
  }),
  row({
    name: 'syslog', scope: 'global', help: 'yes|no send logging messages to syslog', parse: parseYesNo,
    apply: onlyGlobal((g, v: boolean) => { g.syslog = v; }),
  }),
  row({
    name: 'workers', scope: 'global', help: 'N|auto worker processes sharing the listeners (stunnel-ts)',
    parse: (v) => {
      if (v.toLowerCase() === 'auto') return availableParallelism();
      return parseInteger(v, "Illegal number of workers: use a positive integer or 'auto'", 1, 1024);
    },
    apply: onlyGlobal((g, v: number) => { g.workers = v; }),
  }),
  // stunnel-ts extensions of issue #15 (metrics endpoint, structured logs): kept together.
  row({
    name: 'metrics', scope: 'global', help: '[host:]port plain HTTP endpoint for /metrics and /healthz (stunnel-ts)',
    parse: (v) => {
      const address = parseAddress(v);
      if (address.kind !== 'inet') throw new ValueError('The metrics endpoint needs [host:]port, not a Unix socket');
      return address;
    },
    apply: onlyGlobal((g, v: Address & { kind: 'inet' }) => { g.metrics = v; }),
  }),
  row({
    name: 'logFormat', scope: 'global', help: 'text|json log lines as stunnel writes them, or one JSON object each (stunnel-ts)',
    parse: (v) => parseKeyword(v, ['text', 'json'] as const, "The argument needs to be either 'text' or 'json'"),
    apply: onlyGlobal((g, v: GlobalDraft['logFormat']) => { g.logFormat = v; }),
  }),

  // ----- stunnel-ts extensions for a fleet behind an L4 balancer (off by default)
  row({
    name: 'TIMEOUTdrain', scope: 'global', help: 'seconds open connections may finish after TERM/INT (stunnel-ts)',
    versionDefaults: ['0 seconds'], parse: int('Illegal drain timeout', 0, 86400),
    apply: onlyGlobal((g, v: number) => { g.drainTimeout = v; }),
  }),
  row({
    name: 'acceptProxy', scope: 'service', help: 'yes|no read a PROXY protocol v1/v2 header before TLS (stunnel-ts)',
    parse: parseYesNo, apply: (t, v) => { t.service.acceptProxy = v; },
  }),
  row({
    name: 'proxyVersion', scope: 'service', help: "1|2 PROXY header version sent by 'protocol = proxy' (stunnel-ts)",
    parse: int('Illegal PROXY protocol version: use 1 or 2', 1, 2), apply: (t, v) => { t.service.proxyVersion = v as 1 | 2; },
  }),

  // ----- service options (in the global part: defaults for every section)
  row({
    name: 'accept', scope: 'service', repeatable: true, help: '[host:]port accept connections on specified host:port',
    parse: parseAddress, apply: (t, a) => { t.service.accept.push(a); },
  }),
  row({ name: 'CAengine', scope: 'service', repeatable: true, help: "engine-specific CA certificate identifier for 'verify' option", parse: text, status: refused(ENGINE_REASON) }),
  row({
    name: 'CApath', scope: 'service', help: "CA certificate directory for 'verify' option", parse: text,
    apply: (t, v) => { t.service.tls.CApath = pathOrNull(v); },
  }),
  row({
    name: 'CAfile', scope: 'service', help: "CA certificate file for 'verify' option", parse: text,
    apply: (t, v) => { t.service.tls.CAfile = pathOrNull(v); },
  }),
  row({ name: 'cert', scope: 'service', help: 'certificate chain', parse: text, apply: (t, v) => { t.service.tls.cert = v; } }),
  row({ name: 'checkEmail', scope: 'service', repeatable: true, help: 'peer certificate email address', parse: text, apply: (t, v) => { t.service.tls.checkEmail.push(v); } }),
  row({ name: 'checkHost', scope: 'service', repeatable: true, help: 'peer certificate host name pattern', parse: text, apply: (t, v) => { t.service.tls.checkHost.push(v); } }),
  row({ name: 'checkIP', scope: 'service', repeatable: true, help: 'peer certificate IP address', parse: text, apply: (t, v) => { t.service.tls.checkIP.push(v); } }),
  row({
    name: 'ciphers', scope: 'service', help: 'permitted ciphers for TLS 1.2 or older', versionDefaults: [DEFAULTS.ciphers],
    parse: text, apply: (t, v) => { t.service.tls.ciphers = v; },
  }),
  row({
    name: 'ciphersuites', scope: 'service', help: 'permitted ciphersuites for TLS 1.3',
    versionDefaults: [`${DEFAULTS.ciphersuites} (with TLSv1.3)`], parse: text,
    apply: (t, v) => { t.service.tls.ciphersuites = v; },
  }),
  row({ name: 'client', scope: 'service', help: 'yes|no client mode (remote service uses TLS)', parse: parseYesNo, apply: (t, v) => { t.service.client = v; } }),
  row({
    name: 'config', scope: 'service', repeatable: true, help: 'command[:parameter] to execute', parse: text,
    status: refused("OpenSSL SSL_CONF commands are not reachable through Node's TLS API; use the dedicated options"),
  }),
  row({
    name: 'connect', scope: 'service', repeatable: true, help: '[host:]port to connect', parse: parseTarget,
    status: targetStatus, apply: (t, p) => { t.service.connect.push(p.address); },
  }),
  row({ name: 'CRLpath', scope: 'service', help: 'CRL directory', parse: text, apply: (t, v) => { t.service.tls.CRLpath = pathOrNull(v); } }),
  row({ name: 'CRLfile', scope: 'service', help: 'CRL file', parse: text, apply: (t, v) => { t.service.tls.CRLfile = pathOrNull(v); } }),
  row({
    name: 'curves', aliases: ['curve'], scope: 'service', help: 'ECDH curve names', versionDefaults: [DEFAULTS.curves],
    parse: text, apply: (t, v) => { t.service.tls.curves = v; },
  }),
  row({
    name: 'debug', scope: 'service', help: '[facility].level (e.g. daemon.info)', versionDefaults: ['daemon.notice'],
    parse: (v, ctx) => parseDebug(v, ctx.inGlobal),
    apply: (t, d) => {
      t.service.debugLevel = d.level;
      if (t.global) {
        t.global.debugLevel = d.level;
        if (d.facility) t.global.syslogFacility = d.facility;
      }
    },
  }),
  row({ name: 'delay', scope: 'service', help: "yes|no delay DNS lookup for 'connect' option", parse: parseYesNo, apply: (t, v) => { t.service.delay = v; } }),
  row({ name: 'engineId', scope: 'service', help: 'ID of engine to read the key from', parse: text, status: refused(ENGINE_REASON) }),
  row({ name: 'engineNum', scope: 'service', help: 'number of engine to read the key from', parse: text, status: refused(ENGINE_REASON) }),
  row({ name: 'exec', scope: 'service', help: 'file execute local inetd-type program', parse: text, apply: (t, v) => { t.service.exec = v; } }),
  row({
    name: 'execArgs', scope: 'service', help: "arguments for 'exec' (including $0)",
    parse: (v) => v.split(/[ \t]+/).filter((a) => a !== ''), apply: (t, v) => { t.service.execArgs = v; },
  }),
  row({
    name: 'failover', scope: 'service', help: 'rr|prio failover strategy',
    parse: (v) => parseKeyword(v, ['rr', 'prio'] as const, "The argument needs to be either 'rr' or 'prio'"),
    apply: (t, v) => { t.service.failover = v; },
  }),
  row({
    name: 'ident', scope: 'service', help: 'username for IDENT (RFC 1413) checking', parse: text,
    status: refused('IDENT (RFC 1413) checks of the client are not implemented'),
  }),
  row({
    name: 'include', scope: 'service', repeatable: true, help: 'directory with configuration file snippets', parse: text,
    // Expanded by the lexer; never reaches the table.
  }),
  row({
    name: 'key', scope: 'service', help: 'certificate private key', parse: text,
    apply: (t, v) => { t.service.tls.key = v; },
  }),
  row({
    name: 'libwrap', scope: 'service', help: 'yes|no use /etc/hosts.allow and /etc/hosts.deny', parse: parseYesNo,
    status: (on) => on
      ? refused('TCP wrappers (/etc/hosts.allow, /etc/hosts.deny) are not consulted; use a firewall')
      : SUPPORTED,
  }),
  row({ name: 'local', scope: 'service', help: 'IP address to be used as source for remote connections', parse: text, apply: (t, v) => { t.service.local = v; } }),
  row({
    name: 'logId', scope: 'service', help: 'connection identifier type', versionDefaults: ['sequential'],
    parse: (v) => parseKeyword(v, ['sequential', 'unique', 'thread', 'process'] as const, 'Invalid connection identifier type'),
    apply: (t, v) => { t.service.logId = v; },
  }),
  row({ name: 'OCSP', scope: 'service', help: 'OCSP responder URL', parse: text, apply: (t, v) => { t.service.tls.ocsp.url = v; } }),
  row({
    name: 'OCSPaia', scope: 'service', help: 'yes|no check the AIA responders from certificates', parse: parseYesNo,
    apply: (t, v) => { t.service.tls.ocsp.aia = v; },
  }),
  row({
    name: 'OCSPflag', scope: 'service', repeatable: true, help: 'OCSP responder flags',
    parse: (v) => parseKeyword(v, OCSP_FLAGS, 'Illegal OCSP flag'),
    apply: (t, v) => { if (!t.service.tls.ocsp.flags.includes(v)) t.service.tls.ocsp.flags.push(v); },
  }),
  row({
    name: 'OCSPnonce', scope: 'service', help: 'yes|no send and verify the OCSP nonce extension', parse: parseYesNo,
    apply: (t, v) => { t.service.tls.ocsp.nonce = v; },
  }),
  row({
    name: 'options', scope: 'service', repeatable: true, help: 'TLS option to set/reset', versionDefaults: [...DEFAULT_TLS_OPTIONS],
    parse: parseTlsOption,
    apply: (t, o) => {
      const tls = t.service.tls;
      const [add, remove] = o.clear ? [tls.optionsCleared, tls.optionsSet] : [tls.optionsSet, tls.optionsCleared];
      if (!add.includes(o.name)) add.push(o.name);
      const at = remove.indexOf(o.name);
      if (at >= 0) remove.splice(at, 1);
    },
  }),
  row({
    name: 'protocol', scope: 'service',
    help: 'protocol to negotiate before TLS initialization\ncurrently supported: connect (client), imap, ldap (client), nntp (client), pgsql, pop3, proxy (server), smtp, socks (server)',
    parse: (v) => v.toLowerCase(),
    status: (p) => (KNOWN_PROTOCOLS as readonly string[]).includes(p) && !(SUPPORTED_PROTOCOLS as readonly string[]).includes(p)
      ? refused(`the '${p}' protocol negotiation is not implemented; only 'proxy', 'socks', 'smtp', 'pop3', 'imap', 'pgsql', and 'connect', 'nntp', 'ldap' in client mode are`)
      : SUPPORTED,
    apply: (t, v) => { t.service.protocol = v; },
  }),
  row({
    name: 'protocolAuthentication', scope: 'service', help: 'authentication type for protocol negotiations',
    parse: (v) => v.toLowerCase(),
    status: (v) => (v === 'ntlm' ? refused('NTLM authentication to an HTTP proxy is not implemented; basic is') : SUPPORTED),
    apply: (t, v) => { t.service.protocolSettings.authentication = v; },
  }),
  row({
    name: 'protocolDomain', scope: 'service', help: 'domain for protocol negotiations', parse: text,
    status: notice('ignored: only NTLM authentication uses it, and stunnel-ts does not implement NTLM'),
  }),
  row({
    name: 'protocolHeader', scope: 'service', repeatable: true, help: 'custom header for protocol negotiations', parse: text,
    apply: (t, v) => { t.service.protocolSettings.headers.push(v); },
  }),
  ...([['protocolHost', 'host', 'host:port'], ['protocolPassword', 'password', 'password'], ['protocolUsername', 'username', 'username']] as const)
    .map(([name, key, what]) => row({
      name, scope: 'service', help: `${what} for protocol negotiations`, parse: text,
      apply: (t, v) => { t.service.protocolSettings[key] = v; },
    })),
  row({ name: 'PSKidentity', scope: 'service', help: 'identity for PSK authentication', parse: text, apply: (t, v) => { t.service.tls.PSKidentity = v; } }),
  row({ name: 'PSKsecrets', scope: 'service', help: 'secrets for PSK authentication', parse: text, apply: (t, v) => { t.service.tls.PSKsecrets = pathOrNull(v); } }),
  row({
    name: 'pty', scope: 'service', help: "yes|no allocate pseudo terminal for 'exec' option", parse: parseYesNo,
    status: (on) => on
      ? refused("a pseudo terminal for 'exec' is not implemented; the program gets pipes")
      : SUPPORTED,
  }),
  row({
    name: 'redirect', scope: 'service', repeatable: true, help: '[host:]port to redirect on authentication failures',
    parse: parseTarget, status: targetStatus, apply: (t, p) => { t.service.redirect.push(p.address); },
  }),
  row({ name: 'renegotiation', scope: 'service', help: 'yes|no support renegotiation', parse: parseYesNo, apply: (t, v) => { t.service.tls.renegotiation = v; } }),
  row({
    name: 'requireCert', scope: 'service', help: 'yes|no require client certificate', parse: parseYesNo,
    apply: (t, on) => {
      const v = t.service.tls.verify;
      v.require = on;
      if (on) v.request = true;
    },
  }),
  row({ name: 'reset', scope: 'service', help: 'yes|no send TCP RST on error', parse: parseYesNo, apply: (t, v) => { t.service.reset = v; } }),
  row({ name: 'retry', scope: 'service', help: 'yes|no retry connect+exec section', parse: parseYesNo, apply: (t, v) => { t.service.retry = v; } }),
  row({
    name: 'securityLevel', scope: 'service', help: 'set the security level', versionDefaults: [String(DEFAULTS.securityLevel)],
    parse: int('Illegal security level', 0, 5), apply: (t, v) => { t.service.tls.securityLevel = v; },
  }),
  row({
    name: 'service', scope: 'service', help: 'service name', parse: text,
    // Process-wide only: syslog ident and the inetd-mode service name; never inherited by sections.
    apply: onlyGlobal((g, v: string) => { g.service = v; }),
  }),
  row({
    name: 'setgid', scope: 'service', help: 'groupname for setgid()', parse: parseGroup,
    apply: (t, gid) => {
      t.service.acceptGid = gid;
      if (t.global) t.global.setgid = gid;
    },
  }),
  row({
    name: 'setuid', scope: 'service', help: 'username for setuid()', parse: parseUser,
    apply: (t, uid) => {
      t.service.acceptUid = uid;
      if (t.global) t.global.setuid = uid;
    },
  }),
  row({
    name: 'sessionCacheSize', scope: 'service', help: 'session cache size', versionDefaults: [String(DEFAULTS.sessionCacheSize)],
    parse: int('Illegal session cache size', 0), apply: (t, v) => { t.service.tls.sessionCacheSize = v; },
  }),
  row({
    name: 'sessionCacheTimeout', aliases: ['session'], scope: 'service', help: 'session cache timeout (in seconds)',
    versionDefaults: [`${DEFAULTS.sessionCacheTimeout} seconds`],
    parse: int('Illegal session cache timeout', 0), apply: (t, v) => { t.service.tls.sessionCacheTimeout = v; },
  }),
  row({ name: 'sessionResume', scope: 'service', help: 'yes|no enable session resumption', parse: parseYesNo, apply: (t, v) => { t.service.tls.sessionResume = v; } }),
  row({
    name: 'sessiond', scope: 'service', help: '[host:]port use sessiond at host:port', parse: parseAddress,
    status: refused('the external sessiond session cache is not implemented; sessions are cached in memory, shared by the workers'),
  }),
  row({ name: 'sni', scope: 'service', help: 'primary_service:host_name for an SNI virtual service', parse: text, apply: (t, v) => { t.service.sni = v; } }),
  row({
    name: 'socket', scope: 'service', repeatable: true,
    help: 'a|l|r:option=value[:value]\nset an option on accept/local/remote socket',
    parse: parseSocketOption, apply: (t, o) => { t.service.socketOptions.push(o); },
  }),
  row({
    name: 'sslVersion', scope: 'service', help: 'all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version', parse: parseTlsVersion,
    apply: (t, v) => { t.service.tls.minVersion = v; t.service.tls.maxVersion = v; },
  }),
  row({
    name: 'sslVersionMax', scope: 'service', help: 'all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version', parse: parseTlsVersion,
    apply: (t, v) => { t.service.tls.maxVersion = v; },
  }),
  row({
    name: 'sslVersionMin', scope: 'service', help: 'all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version', parse: parseTlsVersion,
    apply: (t, v) => { t.service.tls.minVersion = v; },
  }),
  row({
    name: 'stack', scope: 'service', help: 'thread stack size (in bytes)', versionDefaults: [`${DEFAULTS.stack} bytes`],
    parse: int('Illegal thread stack size'), status: notice('ignored: Node.js manages its own thread stacks'),
  }),
  row({
    name: 'ticketKeySecret', scope: 'service', help: 'secret key for encryption/decryption TLSv1.3 tickets',
    parse: (v) => parseTicketSecret(v, 'ticketKeySecret'), apply: (t, v) => { t.service.tls.ticketKeySecret = v; },
  }),
  row({
    name: 'ticketMacSecret', scope: 'service', help: 'key for HMAC operations on TLSv1.3 tickets',
    parse: (v) => parseTicketSecret(v, 'ticketMacSecret'), apply: (t, v) => { t.service.tls.ticketMacSecret = v; },
  }),
  ...([['busy', 'seconds to wait for expected data'], ['close', 'seconds to wait for close_notify'],
    ['connect', 'seconds to connect remote host'], ['idle', 'seconds to keep an idle connection']] as const).map(([which, help]) => row({
    name: `TIMEOUT${which}`, scope: 'service', help, versionDefaults: [`${DEFAULTS.timeouts[which]} seconds`],
    parse: int(`Illegal ${which} timeout`), apply: (t, v) => { t.service.timeouts[which] = v; },
  })),
  row({
    name: 'transparent', scope: 'service', help: 'none|source|destination|both transparent proxy mode',
    parse: (v) => {
      const legacy = v.toLowerCase() === 'yes' ? 'source' : v.toLowerCase() === 'no' ? 'none' : v;
      return parseKeyword(legacy, ['none', 'source', 'destination', 'both'] as const, 'Selected transparent proxy mode is not available');
    },
    status: (m) => (m === 'none' ? SUPPORTED : refused('transparent proxying (IP_TRANSPARENT / original destination) is not implemented')),
    apply: (t, v) => { t.service.transparent = v; },
  }),
  row({
    name: 'verify', scope: 'service', help: 'level of peer certificate verification', versionDefaults: ['none'],
    parse: int('Bad verify level', 0, 4),
    apply: (t, level) => {
      const [request, require, chain, peer] = VERIFY_LEVELS[level];
      Object.assign(t.service.tls.verify, { request, require, chain, peer });
    },
  }),
  row({
    name: 'verifyChain', scope: 'service', help: 'yes|no verify certificate chain', parse: parseYesNo,
    apply: (t, on) => {
      const v = t.service.tls.verify;
      v.chain = on;
      if (on) v.request = v.require = true;
    },
  }),
  row({
    name: 'verifyPeer', scope: 'service', help: 'yes|no verify peer certificate', parse: parseYesNo,
    apply: (t, on) => {
      const v = t.service.tls.verify;
      v.peer = on;
      if (on) v.request = v.require = true;
    },
  }),
];

const BY_NAME = new Map<string, OptionRow>();
for (const r of OPTIONS) for (const n of [r.name, ...r.aliases]) BY_NAME.set(n.toLowerCase(), r);

/** The row for an option name or alias, case-insensitively. */
export function optionByName(name: string): OptionRow | undefined {
  return BY_NAME.get(name.toLowerCase());
}
