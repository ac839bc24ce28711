/**
 * @module config/model
 * The typed, immutable configuration that parsing yields. Types only: nothing
 * downstream of `config/build` ever reads the stunnel.conf file again.
 */

/** syslog(3) priorities, as stunnel numbers them in `LOG<n>`. */
export type LogLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Where a value came from: the realpath'd file, the 1-based line and the raw (trimmed) line text. */
export interface SourceRef {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/**
 * An `accept`, `connect`, `redirect` or `sessiond` address.
 * `host === null` means "no host was written": the wildcard for `accept`,
 * `localhost` for `connect` (stunnel's rule).
 */
export type Address =
  | { readonly kind: 'inet'; readonly host: string | null; readonly port: number; readonly text: string }
  | { readonly kind: 'unix'; readonly path: string; readonly text: string };

/** OpenSSL's OCSP_* verification flags, as `OCSPflag` takes them. */
export const OCSP_FLAGS = ['NOCERTS', 'NOINTERN', 'NOSIGS', 'NOCHAIN', 'NOVERIFY', 'NOEXPLICIT', 'NOCASIGN', 'NODELEGATED', 'NOCHECKS', 'TRUSTOTHER', 'RESPID_KEY', 'NOTIME'] as const;
export type OcspFlag = (typeof OCSP_FLAGS)[number];

export type TlsVersion = 'SSLv3' | 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** `socket = a|l|r:OPTION=VALUE[:VALUE]`: a = listening socket, l = accepted (local) socket, r = remote socket. */
export interface SocketOption {
  readonly target: 'a' | 'l' | 'r';
  /** As stunnel spells it, e.g. `SO_KEEPALIVE`, `TCP_KEEPIDLE`. */
  readonly name: string;
  /** Integer (booleans are 1/0); SO_LINGER and the timeouts take two numbers; SO_BINDTODEVICE a string. */
  readonly value: number | readonly [number, number] | string;
}

/** What stunnel's verify* options mean, once the obsolete `verify = N` is folded in. */
export interface VerifyPolicy {
  /** Ask the peer for a certificate (server mode). */
  readonly request: boolean;
  /** Refuse a peer that sends none. */
  readonly require: boolean;
  /** Verify the chain against CAfile/CApath. */
  readonly chain: boolean;
  /** The peer's own certificate must be in CAfile/CApath. */
  readonly peer: boolean;
}

export interface Timeouts {
  /** Seconds. Defaults: busy 300, close 60, connect 10, idle 43200. */
  readonly busy: number;
  readonly close: number;
  readonly connect: number;
  readonly idle: number;
}

export interface TlsConfig {
  readonly cert: string | null;
  readonly key: string | null;
  readonly CAfile: string | null;
  readonly CApath: string | null;
  readonly CRLfile: string | null;
  readonly CRLpath: string | null;
  readonly ciphers: string;
  readonly ciphersuites: string;
  readonly curves: string;
  /** null = what the TLS library allows (`all`). */
  readonly minVersion: TlsVersion | null;
  readonly maxVersion: TlsVersion | null;
  /** `options =` names as stunnel spells them (without SSL_OP_), upper-cased; set and cleared (`-NAME`). */
  readonly optionsSet: readonly string[];
  readonly optionsCleared: readonly string[];
  readonly securityLevel: number;
  readonly verify: VerifyPolicy;
  readonly checkHost: readonly string[];
  readonly checkIP: readonly string[];
  readonly checkEmail: readonly string[];
  /**
   * Client mode: the server name to send (null = derive from the first connect host, '' = send none).
   * Server mode: unused (see ServiceConfig.sniPrimary / sniPattern).
   */
  readonly sni: string | null;
  readonly sessionCacheSize: number;
  readonly sessionCacheTimeout: number;
  readonly sessionResume: boolean;
  /** Decoded from stunnel's hex format: 16 or 32 bytes. */
  readonly ticketKeySecret: Buffer | null;
  readonly ticketMacSecret: Buffer | null;
  readonly PSKsecrets: string | null;
  readonly PSKidentity: string | null;
  readonly renegotiation: boolean;
  /** `OCSP`, `OCSPaia`, `OCSPnonce`, `OCSPflag` (tls/ocsp). */
  readonly ocsp: OcspPolicy;
}

export interface OcspPolicy {
  /** `OCSP = URL`: the configured responder, or null. */
  readonly url: string | null;
  readonly aia: boolean;
  readonly nonce: boolean;
  readonly flags: readonly OcspFlag[];
}

export interface ServiceConfig {
  /** Section name, verbatim (spaces kept, may be empty, may repeat). */
  readonly name: string;
  /** The `[section]` header line (for inetd mode: the file itself, line 0). */
  readonly source: SourceRef;
  readonly client: boolean;
  readonly accept: readonly Address[];
  readonly connect: readonly Address[];
  readonly redirect: readonly Address[];
  readonly exec: string | null;
  /** `$0 $1 …`; null = just the exec path as $0. */
  readonly execArgs: readonly string[] | null;
  readonly retry: boolean;
  readonly failover: 'prio' | 'rr';
  readonly delay: boolean;
  /** Source address for outgoing connects. */
  readonly local: string | null;
  /** `proxy` (server mode); `smtp`, `pop3`, `imap`, `connect` (client mode). */
  readonly protocol: string | null;
  /** What the client-mode negotiations use (`protocolHost`, `protocolHeader`, …). */
  readonly protocolSettings: ProtocolSettings;
  readonly timeouts: Timeouts;
  readonly socketOptions: readonly SocketOption[];
  /** RST (SO_LINGER 0) instead of FIN on errors. Default yes. */
  readonly reset: boolean;
  /** Per-service log level (connection lines of this service). */
  readonly debugLevel: LogLevel;
  readonly logId: 'sequential' | 'unique' | 'thread' | 'process';
  /** Owner of a Unix-socket `accept` path (section setuid/setgid), resolved to numbers. */
  readonly acceptUid: number | null;
  readonly acceptGid: number | null;
  /** Server-side SNI: this section is a secondary service of `sniPrimary` for names matching `sniPattern`. */
  readonly sniPrimary: string | null;
  readonly sniPattern: string | null;
  /** stunnel-ts extension: a PROXY v1/v2 header opens every accepted connection; its address is the client. */
  readonly acceptProxy: boolean;
  /** stunnel-ts extension: the header `protocol = proxy` sends, v1 (stunnel's text) or v2 (binary, TLS TLVs). */
  readonly proxyVersion: 1 | 2;
  readonly tls: TlsConfig;
}

/** The `protocol*` options. */
export interface ProtocolSettings {
  /** `protocolHost`: the `host:port` an HTTP proxy is asked to CONNECT to. */
  readonly host: string | null;
  /** `protocolHeader` lines, in order, sent with the CONNECT request. */
  readonly headers: readonly string[];
  readonly username: string | null;
  readonly password: string | null;
  /** `protocolAuthentication`: `basic` (default for connect), `ntlm`, `plain`, `login`. */
  readonly authentication: string | null;
}

export interface GlobalConfig {
  readonly foreground: 'yes' | 'no' | 'quiet';
  /** Absolute path (relative allowed only in the foreground), or null: no pid file. */
  readonly pid: string | null;
  readonly chroot: string | null;
  /** Resolved numeric ids for the privilege drop. */
  readonly setuid: number | null;
  readonly setgid: number | null;
  /** `service =` in the global part: syslog ident and inetd-mode service name. Default `stunnel`. */
  readonly service: string;
  /** Level of main-thread lines (`[ui]`, `[main]`). */
  readonly debugLevel: LogLevel;
  /** syslog facility name, default `daemon`. */
  readonly syslogFacility: string;
  readonly syslog: boolean;
  readonly output: string | null;
  readonly logMode: 'append' | 'overwrite';
  /** stunnel-ts extension: worker processes on the shared listeners (resolved; `auto` = CPU count). */
  readonly workers: number;
  /** stunnel-ts extension `TIMEOUTdrain`: seconds open tunnels may finish after TERM/INT; 0 drops them at once. */
  readonly drainTimeout: number;
  /** stunnel-ts extension: the plain HTTP endpoint serving /metrics and /healthz (no host: 127.0.0.1), or null. */
  readonly metrics: (Address & { kind: 'inet' }) | null;
  /** stunnel-ts extension: `text` (stunnel's lines) or `json` (one object per line, through winston). */
  readonly logFormat: 'text' | 'json';
}

/** A line to log once the log is open: notices about ignored options, security lint, and so on. */
export interface Notice {
  readonly level: LogLevel;
  readonly text: string;
}

export interface Config {
  /** realpath of the main configuration file (what SIGHUP re-reads), or `-fd N`'s descriptor label. */
  readonly file: string;
  readonly global: GlobalConfig;
  /** Daemon mode: one per section, in file order. Empty in inetd mode. */
  readonly services: readonly ServiceConfig[];
  /** Inetd mode (a file with no section): the single service on stdin/stdout. */
  readonly inetd: ServiceConfig | null;
  readonly notices: readonly Notice[];
}
