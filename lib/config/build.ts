/**
 * @module config/build
 * Lexed lines + the option table → one frozen `Config`. Applies global service values
 * as defaults of every section, runs stunnel's end-of-section checks, checks that every
 * named file can be read, and collects EVERY error (in the order stunnel 5.68 would
 * meet them, so the first one is the one stunnel prints) before throwing ConfigError.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { errnoText } from '../errno';
import { ConfigError } from '../errors';
import type { LexItem, LexResult } from './lexer';
import {
  cloneServiceDraft, newGlobalDraft, newServiceDraft, toGlobalConfig, toServiceConfig, type GlobalDraft, type ServiceDraft,
} from './draft';
import type { Config, Notice, ServiceConfig, SourceRef } from './model';
import { isClientProtocol, KNOWN_PROTOCOLS, servesBothModes, optionByName } from './options';
import { ValueError } from './values';

/** A section being read: its header, its draft and whether any of its lines failed. */
interface OpenSection {
  readonly name: string;
  readonly source: SourceRef;
  readonly draft: ServiceDraft;
  lineErrors: boolean;
}

/** Accumulates errors (deduplicated, in order) and notices. */
class Report {
  readonly errors: string[] = [];
  readonly notices: Notice[] = [];
  /** The same messages as `errors`, for a constant-time duplicate check (configs may have 100,000 sections). */
  readonly #seen = new Set<string>();
  error(message: string): void {
    if (this.#seen.has(message)) return;
    this.#seen.add(message);
    this.errors.push(message);
  }
  lineError(at: SourceRef, message: string): void {
    this.error(`${at.file}:${at.line}: "${at.text}": ${message}`);
  }
}

/** Builds the configuration of `file` (the realpath'd name, or an `-fd` label) from its lexed lines. */
export function buildConfig(lexed: LexResult, file: string): Config {
  const report = new Report();
  report.notices.push({ level: 5, text: `UTF-8 byte order mark ${lexed.bom ? '' : 'not '}detected` });
  report.notices.push({ level: 5, text: 'FIPS mode disabled' });

  const global = newGlobalDraft();
  const defaults = newServiceDraft();
  let globalLineErrors = false;
  let current: OpenSection | null = null;
  const services: ServiceConfig[] = [];

  for (const item of lexed.items) {
    const at: SourceRef = { file: item.file, line: item.line, text: item.text };
    if (item.kind === 'section') {
      if (current === null) finishGlobalPart(global, report);
      else services.push(finishSection(current, services, report));
      current = { name: item.name, source: at, draft: cloneServiceDraft(defaults), lineErrors: false };
      continue;
    }
    const ok = item.kind === 'error' ? lineFailed(item, report) : applyEntry(item, current, global, defaults, report);
    if (!ok) {
      if (current) current.lineErrors = true;
      else globalLineErrors = true;
    }
  }

  let inetd: ServiceConfig | null = null;
  if (current === null) {
    finishGlobalPart(global, report);
    const source: SourceRef = { file, line: 0, text: '' };
    inetd = finishSection({ name: global.service, source, draft: defaults, lineErrors: globalLineErrors }, [], report, true);
  } else {
    services.push(finishSection(current, services, report));
  }

  if (report.errors.length > 0) throw new ConfigError(report.errors);
  return deepFreeze({ file, global: toGlobalConfig(global), services, inetd, notices: report.notices });
}

function lineFailed(item: Extract<LexItem, { kind: 'error' }>, report: Report): false {
  item.details.forEach((d) => report.error(d));
  report.lineError(item, item.message);
  return false;
}

/** One `name = value` line: look the option up, check its scope, parse, apply. */
function applyEntry(
  item: Extract<LexItem, { kind: 'entry' }>, current: OpenSection | null, global: GlobalDraft,
  defaults: ServiceDraft, report: Report,
): boolean {
  const row = optionByName(item.key);
  if (!row || (row.scope === 'global' && current !== null)) {
    report.lineError(item, 'Specified option name is not valid here');
    return false;
  }
  let parsed: unknown;
  try {
    parsed = row.parse(item.value, { inGlobal: current === null });
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    err.details.forEach((d) => report.error(d));
    report.lineError(item, err.message);
    return false;
  }
  const status = row.status(parsed);
  if (status.kind === 'refused') {
    report.lineError(item, status.words === 'stunnel' ? status.reason : `Not supported by stunnel-ts: ${status.reason}`);
    return false;
  }
  if (status.kind === 'notice') {
    report.notices.push({ level: status.level ?? 5, text: `${item.file}:${item.line}: "${item.text}": ${status.text}` });
  }
  const service = current ? current.draft : defaults;
  row.apply({ global: current ? null : global, service }, parsed);
  const ref = { file: item.file, line: item.line, text: item.text };
  service.refs[row.name] = ref;
  if (!current) global.refs[row.name] = ref;
  return true;
}

/** Checks of the global part, made when the first section opens (or at the end of an inetd file). */
function finishGlobalPart(global: GlobalDraft, report: Report): void {
  const daemonizing = global.foreground === 'no';
  if (daemonizing && global.output !== null && !global.output.startsWith('/')) {
    report.error('Global options: Log file must include full path name');
  }
  if (daemonizing && global.pid !== null && !global.pid.startsWith('/')) {
    report.error('Global options: Pid file must include full path name');
  }
  const compression = global.refs.compression;
  if (compression) {
    report.lineError(compression, 'Configured compression is unsupported by OpenSSL (TLS compression is insecure and disabled)');
    report.error('Global options: Failed to initialize TLS');
  }
}

/** End-of-section checks (stunnel's `Service [x]: …` / `Inetd mode: …`), then the typed service. */
function finishSection(
  section: OpenSection, earlier: readonly ServiceConfig[], report: Report, inetd = false,
): ServiceConfig {
  const d = section.draft;
  const fail = (text: string) => report.error(`${inetd ? 'Inetd mode' : `Service [${section.name}]`}: ${text}`);
  let sniPrimary: string | null = null;
  let sniPattern: string | null = null;

  if (!section.lineErrors) {
    checkProtocol(d, fail);
    checkProxyOptions(d, inetd, report);
    if (!d.client && d.sni !== null) {
      const colon = d.sni.indexOf(':');
      if (colon <= 0 || colon === d.sni.length - 1) fail('Invalid SNI parameter format');
      else {
        sniPrimary = d.sni.slice(0, colon);
        sniPattern = d.sni.slice(colon + 1);
        const primary = earlier.find((s) => s.name === sniPrimary);
        if (!primary) fail('SNI section name not found');
        else if (primary.client) fail('SNI primary service is a TLS client');
      }
    }
    if (inetd) checkInetdEndpoints(d, fail);
    else checkEndpoints(d, fail);
    checkVerification(d, fail);
    if (!inetd) checkCertificate(d, fail);
  }
  const fileErrors = checkFiles(d, report);
  if (fileErrors) fail('Failed to initialize TLS context');
  else refuseSslv3(d, report);

  if (!d.tls.CAfile && !d.tls.CApath) report.notices.push({ level: 3, text: 'No trusted certificates found' });
  if (d.client && !d.tls.verify.chain && !d.tls.verify.peer) {
    report.notices.push({ level: 4, text: `Service [${section.name}] needs authentication to prevent MITM attacks` });
  }
  return toServiceConfig(d, { name: section.name, source: section.source, sniPrimary, sniPattern });
}

function checkProtocol(d: ServiceDraft, fail: (text: string) => void): void {
  const p = d.protocol;
  if (p === null) return;
  if (!(KNOWN_PROTOCOLS as readonly string[]).includes(p)) fail('Protocol not supported');
  else if (p === 'proxy' && d.client) fail("The 'proxy' protocol is not supported in the client mode");
  else if (p === 'socks' && d.client) fail("Not supported by stunnel-ts: the 'socks' protocol in client mode (server mode is)");
  else if ((p === 'nntp' || p === 'ldap') && !d.client) fail(`The '${p}' protocol is not supported in the server mode`);
  else if (isClientProtocol(p) && !servesBothModes(p) && !d.client) {
    fail(`Not supported by stunnel-ts: the '${p}' protocol in server mode (client mode is)`);
  }
  else if (p === 'smtp' && (d.protocolSettings.username !== null || d.protocolSettings.password !== null)) {
    fail('Not supported by stunnel-ts: SMTP authentication by the tunnel (protocolUsername, protocolPassword); let the mail client log in');
  }
}

/** The PROXY extensions need what they act on: an `accept` to read headers on, `protocol = proxy` to send v2. */
function checkProxyOptions(d: ServiceDraft, inetd: boolean, report: Report): void {
  const accept = d.refs.acceptProxy;
  if (accept && d.acceptProxy && (inetd || d.accept.length === 0)) {
    report.lineError(accept, "Not supported by stunnel-ts: 'acceptProxy' reads the header on a service's 'accept' (not in inetd mode or exec+connect)");
  }
  const version = d.refs.proxyVersion;
  if (version && d.proxyVersion === 2 && d.protocol !== 'proxy') report.lineError(version, "'proxyVersion = 2' needs 'protocol = proxy'");
}

function checkEndpoints(d: ServiceDraft, fail: (text: string) => void): void {
  // A SOCKS server takes each destination from its client's request: that is its far end.
  const socksServer = !d.client && d.protocol === 'socks';
  const count = [d.accept.length > 0, d.connect.length > 0, d.exec !== null, !d.client && d.sni !== null, socksServer]
    .filter(Boolean).length;
  if (count !== 2) fail('Each service must define two endpoints');
}

function checkInetdEndpoints(d: ServiceDraft, fail: (text: string) => void): void {
  checkCertificate(d, fail);
  if (d.accept.length > 0) fail("'accept' option is only allowed in a [section]");
  if ((d.connect.length > 0 ? 1 : 0) + (d.exec !== null ? 1 : 0) !== 1) fail('Inetd mode must define one endpoint');
}

function checkVerification(d: ServiceDraft, fail: (text: string) => void): void {
  const { tls } = d;
  const verifying = tls.verify.chain || tls.verify.peer;
  if (d.redirect.length > 0) {
    if (d.client) fail('"redirect" is unsupported in client sections');
    else if (!verifying) fail('Either "verifyChain" or "verifyPeer" has to be enabled for "redirect" to work');
  }
  if ((tls.checkHost.length > 0 || tls.checkIP.length > 0 || tls.checkEmail.length > 0) && !verifying) {
    fail('Either "verifyChain" or "verifyPeer" has to be enabled');
  }
  if (verifying && !tls.CAfile && !tls.CApath) fail('Either "CAengine", "CAfile" or "CApath" has to be configured');
  const order = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  if (tls.minVersion && tls.maxVersion && order.indexOf(tls.minVersion) > order.indexOf(tls.maxVersion)) {
    fail('Invalid protocol version range');
  }
  if ((tls.ticketKeySecret === null) !== (tls.ticketMacSecret === null)) {
    fail('"ticketKeySecret" and "ticketMacSecret" must be set together');
  }
}

function checkCertificate(d: ServiceDraft, fail: (text: string) => void): void {
  if (!d.client && d.tls.cert === null && d.tls.PSKsecrets === null) fail('TLS server needs a certificate');
}

/**
 * Every file or directory the section names must exist and be readable. Errors name
 * the line that set the option (possibly inherited from the global part).
 * Returns whether any check failed.
 */
function checkFiles(d: ServiceDraft, report: Report): boolean {
  const { tls } = d;
  const wanted: Array<[option: string, path: string | null, directory: boolean]> = [
    ['cert', tls.cert, false],
    ['key', tls.key, false],
    ['CAfile', tls.CAfile, false],
    ['CApath', tls.CApath, true],
    ['CRLfile', tls.CRLfile, false],
    ['CRLpath', tls.CRLpath, true],
    ['PSKsecrets', tls.PSKsecrets, false],
  ];
  let failed = false;
  for (const [option, path, directory] of wanted) {
    if (path === null) continue;
    const problem = unreadable(path, directory);
    if (problem === null) continue;
    failed = true;
    const ref = d.refs[option];
    if (ref) report.lineError(ref, `${path}: ${problem}`);
    else report.error(`${option} = ${path}: ${problem}`);
  }
  return failed;
}

/**
 * `SSLv3` parses (stunnel 5.68 accepts it) but Node's OpenSSL has none left to enable.
 * Refused where stunnel would build the TLS context: after the section's files load.
 */
function refuseSslv3(d: ServiceDraft, report: Report): void {
  for (const option of ['sslVersion', 'sslVersionMin', 'sslVersionMax']) {
    const ref = d.refs[option];
    if (ref && /=\s*sslv3$/i.test(ref.text)) {
      report.lineError(ref, "Not supported by stunnel-ts: SSLv3 is not available in Node.js's OpenSSL (and is insecure, RFC 7568); use TLSv1.2 or later");
    }
  }
}

/** Why `path` cannot be read as a file (or directory), or null if it can. */
export function unreadable(path: string, directory: boolean): string | null {
  const full = resolve(path);
  try {
    const st = statSync(full);
    if (directory && !st.isDirectory()) return 'Not a directory (20)';
    if (!directory && st.isDirectory()) return 'Is a directory (21)';
    accessSync(full, constants.R_OK);
    return null;
  } catch (err) {
    return errnoText(err);
  }
}

/** Freezes the whole tree (Buffers stay mutable: they cannot be frozen). */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !Object.isFrozen(value)) {
    for (const v of Object.values(value as object)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
