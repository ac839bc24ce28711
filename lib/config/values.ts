/**
 * @module config/values
 * Value parsers for stunnel.conf options. Each takes the trimmed value text and
 * returns a typed value, or throws ValueError whose message is stunnel 5.68's own text.
 */
import { readFileSync } from 'node:fs';
import type { Address, LogLevel, SocketOption, TlsVersion } from './model';
import { tlsOptionByName } from './tls-options';

/** A value the option does not accept. `details` are lines stunnel logs before the `FILE:LINE:` line. */
export class ValueError extends Error {
  constructor(message: string, readonly details: readonly string[] = []) {
    super(message);
    this.name = 'ValueError';
  }
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** `yes` / `no`, case-insensitive. */
export function parseYesNo(value: string): boolean {
  if (same(value, 'yes')) return true;
  if (same(value, 'no')) return false;
  throw new ValueError("The argument needs to be either 'yes' or 'no'");
}

/** One keyword of `choices` (case-insensitive), returned in the table's spelling. */
export function parseKeyword<T extends string>(value: string, choices: readonly T[], message: string): T {
  const found = choices.find((c) => same(c, value));
  if (found === undefined) throw new ValueError(message);
  return found;
}

/** A whole decimal integer as strtol reads it (sign allowed, nothing after the digits). */
export function parseInteger(value: string, message: string, min = -Infinity, max = Infinity): number {
  if (!/^[+-]?\d+$/.test(value)) throw new ValueError(message);
  const n = Number(value);
  if (n < min || n > max) throw new ValueError(message);
  return n;
}

// ---------------------------------------------------------------- log levels

export const LEVEL_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
/** syslog(3) facilities by the names `debug = FACILITY.LEVEL` accepts, with their numbers. */
export const SYSLOG_FACILITIES: Readonly<Record<string, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21,
  local6: 22, local7: 23,
};

export interface DebugSetting {
  readonly facility: string | null;
  readonly level: LogLevel;
}

/**
 * `debug = [FACILITY.]LEVEL`. The facility part is split off at the first dot and is
 * only allowed in the global section (in a section stunnel says `Illegal debug level`).
 */
export function parseDebug(value: string, inGlobal: boolean): DebugSetting {
  let facility: string | null = null;
  let levelText = value;
  const dot = value.indexOf('.');
  if (dot >= 0) {
    if (!inGlobal) throw new ValueError('Illegal debug level');
    const name = value.slice(0, dot);
    facility = Object.keys(SYSLOG_FACILITIES).find((f) => same(f, name)) ?? null;
    if (facility === null) throw new ValueError('Illegal syslog facility');
    levelText = value.slice(dot + 1);
  }
  const byName = LEVEL_NAMES.findIndex((l) => same(l, levelText));
  if (byName >= 0) return { facility, level: byName as LogLevel };
  if (/^\d$/.test(levelText) && Number(levelText) <= 7) return { facility, level: Number(levelText) as LogLevel };
  throw new ValueError('Illegal debug level');
}

// ---------------------------------------------------------------- addresses

let servicesCache: Map<string, number> | null = null;

/** TCP service names of /etc/services (name and aliases → port). */
function tcpServices(): Map<string, number> {
  if (servicesCache) return servicesCache;
  servicesCache = new Map();
  let text = '';
  try {
    text = readFileSync('/etc/services', 'utf8');
  } catch {
    return servicesCache;
  }
  for (const raw of text.split('\n')) {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/);
    const m = /^(\d+)\/tcp$/.exec(fields[1] ?? '');
    if (!m) continue;
    for (const name of [fields[0], ...fields.slice(2)]) {
      if (!servicesCache.has(name)) servicesCache.set(name, Number(m[1]));
    }
  }
  return servicesCache;
}

/** A port number (0 = ephemeral) or a TCP service name such as `https`. */
export function parsePort(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n <= 65535) return n;
  } else {
    const port = tcpServices().get(text);
    if (port !== undefined) return port;
  }
  throw new ValueError(`Unknown TCP service "${text}"`);
}

/**
 * `[HOST:]PORT`, `[v6]:PORT`, `:::PORT` or `/unix/path`. The text is split at the LAST
 * colon, so `:::443` is host `::` and port 443; no host gives `host: null`.
 */
export function parseAddress(value: string): Address {
  return parseAddressWith(value, parsePort);
}

/**
 * A `connect` or `redirect` target: stunnel resolves these late (an unresolvable
 * target only delays the lookup), so an unknown service name is not a configuration
 * error. It is kept with port 0 (connections to it fail) and reported by `onUnknown`.
 */
export function parseTargetAddress(value: string, onUnknown: (message: string) => void): Address {
  return parseAddressWith(value, (text) => {
    try {
      return parsePort(text);
    } catch (err) {
      onUnknown((err as Error).message);
      return 0;
    }
  });
}

function parseAddressWith(value: string, port: (text: string) => number): Address {
  if (value.startsWith('/')) return { kind: 'unix', path: value, text: value };
  const colon = value.lastIndexOf(':');
  let host: string | null = colon < 0 ? null : value.slice(0, colon);
  const portText = colon < 0 ? value : value.slice(colon + 1);
  if (host !== null && host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') host = null;
  return { kind: 'inet', host, port: port(portText), text: value };
}

// ---------------------------------------------------------------- TLS

export const TLS_VERSIONS: readonly TlsVersion[] = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** `all` (null: the library's limit) or one of the versions stunnel knows. */
export function parseTlsVersion(value: string): TlsVersion | null {
  if (same(value, 'all')) return null;
  return parseKeyword(value, TLS_VERSIONS, 'Invalid protocol version');
}

/** `options = NAME` or `-NAME` (clears). */
export function parseTlsOption(value: string): { readonly name: string; readonly clear: boolean } {
  const clear = value.startsWith('-');
  const row = tlsOptionByName(clear ? value.slice(1) : value);
  if (!row) throw new ValueError('Illegal TLS option');
  return { name: row.name, clear };
}

/**
 * `ticketKeySecret` / `ticketMacSecret`: hex digits, `:` separators optional,
 * decoding to 16 or 32 bytes.
 */
export function parseTicketSecret(value: string, option: string): Buffer {
  const hex = value.replace(/:/g, '');
  const fail = (detail: string) => new ValueError(`Failed to read ${option}`, [detail]);
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) {
    throw fail(`Required ${option} is 16 or 32 byte hexadecimal key`);
  }
  const bytes = Buffer.from(hex, 'hex');
  if (bytes.length !== 16 && bytes.length !== 32) {
    throw fail(`${option} value has ${bytes.length} bytes instead of required 16 or 32 bytes`);
  }
  return bytes;
}

// ---------------------------------------------------------------- sockets

export type SocketValueKind = 'flag' | 'int' | 'linger' | 'timeval' | 'string';

/** The socket options of `stunnel -sockets`: name, setsockopt level, value kind, stunnel's defaults and the Linux default. */
export interface SocketOptionRow {
  readonly name: string;
  readonly kind: SocketValueKind;
  /** The setsockopt(2) level it is set at. */
  readonly level: 'SOL_SOCKET' | 'IPPROTO_TCP' | 'IPPROTO_IP' | 'IPPROTO_IPV6';
  readonly accept?: string;
  readonly local?: string;
  readonly remote?: string;
  readonly osDefault: string;
}

export const SOCKET_OPTIONS: readonly SocketOptionRow[] = [
  { name: 'SO_DEBUG', level: 'SOL_SOCKET', kind: 'flag', osDefault: 'no' },
  { name: 'SO_DONTROUTE', level: 'SOL_SOCKET', kind: 'flag', osDefault: 'no' },
  { name: 'SO_KEEPALIVE', level: 'SOL_SOCKET', kind: 'flag', osDefault: 'no' },
  { name: 'SO_LINGER', level: 'SOL_SOCKET', kind: 'linger', osDefault: '0:0' },
  { name: 'SO_OOBINLINE', level: 'SOL_SOCKET', kind: 'flag', osDefault: 'no' },
  { name: 'SO_RCVBUF', level: 'SOL_SOCKET', kind: 'int', osDefault: '131072' },
  { name: 'SO_SNDBUF', level: 'SOL_SOCKET', kind: 'int', osDefault: '16384' },
  { name: 'SO_RCVLOWAT', level: 'SOL_SOCKET', kind: 'int', osDefault: '1' },
  { name: 'SO_SNDLOWAT', level: 'SOL_SOCKET', kind: 'int', osDefault: '1' },
  { name: 'SO_RCVTIMEO', level: 'SOL_SOCKET', kind: 'timeval', osDefault: '0:0' },
  { name: 'SO_SNDTIMEO', level: 'SOL_SOCKET', kind: 'timeval', osDefault: '0:0' },
  { name: 'SO_REUSEADDR', level: 'SOL_SOCKET', kind: 'flag', accept: 'yes', osDefault: 'no' },
  { name: 'SO_BINDTODEVICE', level: 'SOL_SOCKET', kind: 'string', osDefault: '' },
  { name: 'TCP_KEEPCNT', level: 'IPPROTO_TCP', kind: 'int', osDefault: '9' },
  { name: 'TCP_KEEPIDLE', level: 'IPPROTO_TCP', kind: 'int', osDefault: '7200' },
  { name: 'TCP_KEEPINTVL', level: 'IPPROTO_TCP', kind: 'int', osDefault: '75' },
  { name: 'IP_TOS', level: 'IPPROTO_IP', kind: 'int', osDefault: '0' },
  { name: 'IP_TTL', level: 'IPPROTO_IP', kind: 'int', osDefault: '64' },
  { name: 'TCP_NODELAY', level: 'IPPROTO_TCP', kind: 'flag', local: 'yes', remote: 'yes', osDefault: 'no' },
  { name: 'IP_FREEBIND', level: 'IPPROTO_IP', kind: 'flag', osDefault: 'no' },
  { name: 'IPV6_V6ONLY', level: 'IPPROTO_IPV6', kind: 'flag', osDefault: 'no' },
];

/** stunnel's own socket defaults, applied before any `socket =` line (a later line overrides). */
export const DEFAULT_SOCKET_OPTIONS: readonly SocketOption[] = [
  { target: 'a', name: 'SO_REUSEADDR', value: 1 },
  { target: 'l', name: 'TCP_NODELAY', value: 1 },
  { target: 'r', name: 'TCP_NODELAY', value: 1 },
];

/** `a|l|r:NAME=VALUE[:VALUE]`; option names are case-sensitive, as in stunnel. */
export function parseSocketOption(value: string): SocketOption {
  const illegal = () => new ValueError('Illegal socket option');
  const m = /^([alr]):([^=]+)=(.*)$/.exec(value);
  if (!m) throw illegal();
  const target = m[1] as SocketOption['target'];
  const row = SOCKET_OPTIONS.find((r) => r.name === m[2]);
  if (!row) throw illegal();
  const text = m[3];
  const int = (t: string) => {
    if (!/^[+-]?\d+$/.test(t)) throw illegal();
    return Number(t);
  };
  switch (row.kind) {
    case 'flag':
      if (same(text, 'yes')) return { target, name: row.name, value: 1 };
      if (same(text, 'no')) return { target, name: row.name, value: 0 };
      return { target, name: row.name, value: int(text) };
    case 'int':
      return { target, name: row.name, value: int(text) };
    case 'linger':
    case 'timeval': {
      const parts = text.split(':');
      if (parts.length !== 2) throw illegal();
      return { target, name: row.name, value: [int(parts[0]), int(parts[1])] };
    }
    case 'string':
      return { target, name: row.name, value: text };
  }
}

// ---------------------------------------------------------------- users and groups

/** Looks a name up in an /etc/passwd-style file (field 0 = name, field 2 = id). */
function idFromDatabase(file: string, name: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && /^\d+$/.test(fields[2] ?? '')) return Number(fields[2]);
  }
  return null;
}

/** `setuid`: a user name from /etc/passwd or a numeric uid. */
export function parseUser(value: string): number {
  const id = idFromDatabase('/etc/passwd', value) ?? (/^\d+$/.test(value) ? Number(value) : null);
  if (id === null) throw new ValueError('Illegal UID');
  return id;
}

/** `setgid`: a group name from /etc/group or a numeric gid. */
export function parseGroup(value: string): number {
  const id = idFromDatabase('/etc/group', value) ?? (/^\d+$/.test(value) ? Number(value) : null);
  if (id === null) throw new ValueError('Illegal GID');
  return id;
}
