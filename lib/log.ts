/**
 * @module log
 * stunnel's log: levels 0..7 (syslog's), the `LOG5[id]: text` line, and its three sinks
 * (the `output` file, stderr in the foreground, syslog), on winston.
 *
 * Until the sinks are opened (after the privilege drop, as stunnel does) every line is kept
 * in memory, whatever its level; a start-up failure prints them all on stderr in the short
 * `[!] text` shape, and a successful start flushes the ones within the level to the sinks.
 */
import { closeSync, openSync, writeSync, constants as fsConstants } from 'node:fs';
import * as winston from 'winston';
import type TransportStream from 'winston-transport';
import { StartupError } from './errors';
import type { Config, LogLevel } from './config/model';
import { nativeAddon, type NativeAddon } from './process/native';

/** One log line: level 0..7, id (`ui`, `main`, `cron` or a connection id) and text without timestamp. */
export interface LogWriter {
  write(level: LogLevel, id: string, text: string): void;
}

/** Formats a line as stunnel does in files and on stderr: `YYYY.MM.DD HH:MM:SS LOG5[id]: text`, local time. */
export function formatLine(date: Date, level: LogLevel, id: string, text: string): string {
  const p = (n: number) => (n < 10 ? '0' + n : String(n));
  return `${date.getFullYear()}.${p(date.getMonth() + 1)}.${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())} LOG${level}[${id}]: ${text}`;
}

/** The one-character tag of a start-up message on stderr: `[!] Configuration failed`. */
export function stderrTag(level: LogLevel): string {
  return level <= 2 ? '*' : level === 3 ? '!' : level === 4 ? ':' : level === 5 ? '.' : ' ';
}

/** A start-up message in the short stderr shape, without time or id. */
export function formatStartupLine(level: LogLevel, text: string): string {
  return `[${stderrTag(level)}] ${text}`;
}

/** Cuts to 1024 bytes, strips trailing newlines, turns other ASCII control characters into dots. */
export function cleanText(text: string): string {
  let cleaned = text.replace(/[\r\n]+$/, '');
  if (Buffer.byteLength(cleaned) > 1024) cleaned = Buffer.from(cleaned).subarray(0, 1024).toString();
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(cleaned) ? cleaned.replace(/[\x00-\x1f\x7f]/g, '.') : cleaned;
}

/** syslog(3) facility numbers by the names `debug = FACILITY.LEVEL` accepts. */
export const SYSLOG_FACILITIES: Readonly<Record<string, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21,
  local6: 22, local7: 23,
};

/** Where the log goes and how much of it. */
export interface LogSettings {
  /** Level of main-thread lines (`ui`, `main`, `cron`): the global `debug`. */
  readonly level: LogLevel;
  /** Level up to which connection lines pass (the highest service `debug`; the engine filters per service). */
  readonly connectionLevel: LogLevel;
  readonly output: string | null;
  readonly overwrite: boolean;
  readonly stderr: boolean;
  /** null = no syslog. */
  readonly syslog: { readonly ident: string; readonly facility: string } | null;
}

/** The sinks a configuration asks for; `stderr` is true only with `foreground = yes`. */
export function logSettingsFrom(config: Config): LogSettings {
  const g = config.global;
  const services = config.inetd ? [config.inetd] : config.services;
  const connectionLevel = services.reduce<LogLevel>((max, s) => (s.debugLevel > max ? s.debugLevel : max), g.debugLevel);
  return {
    level: g.debugLevel,
    connectionLevel,
    output: g.output,
    overwrite: g.logMode === 'overwrite',
    stderr: g.foreground === 'yes',
    syslog: g.syslog ? { ident: g.service, facility: g.syslogFacility } : null,
  };
}

/** Environment variable that moves syslog's socket away from /dev/log (tests bind their own). */
export const SYSLOG_PATH_ENV = 'STUNNEL_TS_SYSLOG_PATH';

const LEVEL_NAMES = ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug'] as const;
const WINSTON_LEVELS: Record<string, number> = Object.fromEntries(LEVEL_NAMES.map((name, i) => [name, i]));
const MAIN_IDS = new Set(['ui', 'main', 'cron']);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** What winston carries from Log.write to the sinks. */
interface Entry {
  readonly level: string;
  readonly message: string;
  readonly logLevel: LogLevel;
  readonly id: string;
  readonly date: Date;
}

/** winston's Transport base class (exported at run time as `Transport`; its typings call it `transport`). */
const Transport = (winston as unknown as { Transport: typeof TransportStream }).Transport;

/** A sink that writes whole lines synchronously, so nothing is lost when the process exits. */
abstract class LineSink extends Transport {
  override log(entry: Entry, done: () => void): void {
    try {
      this.writeEntry(entry);
    } catch {
      // A sink that cannot write drops the line: logging never takes the tunnel down.
    }
    done();
  }
  abstract writeEntry(entry: Entry): void;
  /** Frees the sink's descriptor. (Not `close`: winston calls that on every unpipe, also for a sink we keep.) */
  release(): void {}
}

/** `output = FILE`: appended (or truncated with `log = overwrite`), reopened on SIGUSR1. */
class FileSink extends LineSink {
  #fd: number;
  constructor(readonly path: string, readonly overwrite: boolean) {
    super();
    this.#fd = FileSink.open(path, overwrite);
  }
  static open(path: string, overwrite: boolean): number {
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | (overwrite ? fsConstants.O_TRUNC : fsConstants.O_APPEND);
    try {
      return openSync(path, flags, 0o640);
    } catch {
      throw new StartupError([`Cannot open log file: ${path}`]);
    }
  }
  writeEntry(entry: Entry): void {
    writeSync(this.#fd, formatLine(entry.date, entry.logLevel, entry.id, entry.message) + '\n');
  }
  /** Opens the path again (logrotate renamed the old file away), then closes the old descriptor. */
  reopen(): void {
    const fresh = FileSink.open(this.path, this.overwrite);
    closeSync(this.#fd);
    this.#fd = fresh;
  }
  override release(): void {
    closeSync(this.#fd);
  }
}

/** `foreground = yes`: every line on stderr too, in the file's format. */
class StderrSink extends LineSink {
  writeEntry(entry: Entry): void {
    process.stderr.write(formatLine(entry.date, entry.logLevel, entry.id, entry.message) + '\n');
  }
}

/**
 * `syslog = yes`: RFC 3164 datagrams to /dev/log as glibc's syslog(3) sends them
 * (`<29>Nov 26 03:34:59 stunnel: LOG5[ui]: text`, no pid). The socket is connected when the
 * log opens, before any chroot, so it keeps working inside the jail; a missing log daemon
 * only drops lines.
 */
class SyslogSink extends LineSink {
  #fd = -1;
  #lastAttempt = 0;
  readonly #facility: number;
  constructor(readonly addon: NativeAddon, readonly ident: string, readonly facilityName: string, readonly path: string) {
    super();
    this.#facility = SYSLOG_FACILITIES[facilityName.toLowerCase()] ?? SYSLOG_FACILITIES.daemon;
    this.#connect();
  }
  #connect(): void {
    this.#lastAttempt = Date.now();
    const fd = this.addon.dgramConnect(this.path);
    this.#fd = fd >= 0 ? fd : -1;
  }
  writeEntry(entry: Entry): void {
    if (this.#fd < 0 && Date.now() - this.#lastAttempt >= 1000) this.#connect();
    if (this.#fd < 0) return;
    const d = entry.date;
    const p = (n: number) => (n < 10 ? '0' + n : String(n));
    const stamp = `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    const datagram = Buffer.from(`<${this.#facility * 8 + entry.logLevel}>${stamp} ${this.ident}: LOG${entry.logLevel}[${entry.id}]: ${entry.message}`);
    if (this.addon.dgramSend(this.#fd, datagram) < 0) {
      // The log daemon restarted: connect again (the path is reachable unless we are in a chroot).
      if (this.addon.dgramReconnect(this.#fd, this.path) === 0) this.addon.dgramSend(this.#fd, datagram);
    }
  }
  override release(): void {
    if (this.#fd >= 0) this.addon.close(this.#fd);
    this.#fd = -1;
  }
}

interface Buffered {
  readonly date: Date;
  readonly level: LogLevel;
  readonly id: string;
  readonly text: string;
}

/**
 * The process's log. `write(level, 'ui', text)` is how main-thread code logs: once the
 * process has daemonized (`daemonized()`), those lines show as `[main]`, as stunnel's do.
 */
export class Log implements LogWriter {
  #settings: LogSettings | null = null;
  #buffer: Buffered[] | null = [];
  #mainId = 'ui';
  #file: FileSink | null = null;
  #sinks: LineSink[] = [];
  readonly #logger: winston.Logger;

  constructor() {
    this.#logger = winston.createLogger({ levels: WINSTON_LEVELS, level: 'debug', exitOnError: false, transports: [] });
  }

  /** True when a line of this level and id would be written (check before building costly text). */
  enabled(level: LogLevel, id = 'ui'): boolean {
    const settings = this.#settings;
    if (settings === null) return true;
    return level <= (MAIN_IDS.has(id) ? settings.level : settings.connectionLevel);
  }

  write(level: LogLevel, id: string, text: string): void {
    if (!this.enabled(level, id)) return;
    const shownId = id === 'ui' ? this.#mainId : id;
    const date = new Date();
    if (this.#buffer !== null) {
      this.#buffer.push({ date, level, id: shownId, text: cleanText(text) });
      return;
    }
    this.#emit(date, level, shownId, cleanText(text));
  }

  #emit(date: Date, level: LogLevel, id: string, message: string): void {
    if (this.#sinks.length === 0) return;
    const entry: Entry = { level: LEVEL_NAMES[level], message, logLevel: level, id, date };
    this.#logger.log(entry);
  }

  /** From now on main-thread lines are `[main]` (the daemon child after start-up). */
  daemonized(): void {
    this.#mainId = 'main';
  }

  /** True until open(): lines are kept in memory, not yet written anywhere. */
  get buffering(): boolean {
    return this.#buffer !== null;
  }

  /** The lines kept since start-up, in the `[!] text` shape, for a start-up failure report. */
  startupLines(): string[] {
    return (this.#buffer ?? []).map((line) => formatStartupLine(line.level, line.text));
  }

  /**
   * Connects syslog early (before any chroot) while lines stay buffered: stunnel opens
   * syslog with LOG_NDELAY at start-up.
   */
  openSyslog(settings: LogSettings): void {
    this.#replaceSinks({ ...settings, output: null, stderr: false }, false);
  }

  /** Opens the sinks (throws StartupError `Cannot open log file: PATH`) and flushes the buffered lines. */
  open(settings: LogSettings): void {
    this.#replaceSinks(settings, true);
    const buffered = this.#buffer ?? [];
    this.#buffer = null;
    for (const line of buffered) {
      if (this.enabled(line.level, MAIN_IDS.has(line.id) ? 'ui' : line.id)) this.#emit(line.date, line.level, line.id, line.text);
    }
  }

  /** SIGHUP: new level and sinks from the reloaded configuration; on failure the old sinks stay. */
  reconfigure(settings: LogSettings): void {
    this.#replaceSinks(settings, true);
  }

  #replaceSinks(settings: LogSettings, withOutput: boolean): void {
    const file = withOutput && settings.output !== null ? new FileSink(settings.output, settings.overwrite) : null;
    const sinks: LineSink[] = file ? [file] : [];
    if (settings.stderr) sinks.push(new StderrSink());
    const syslog = this.#syslogSink(settings);
    if (syslog) sinks.push(syslog);
    this.#closeSinks(syslog);
    this.#settings = this.#buffer === null || withOutput ? settings : null;
    this.#file = file;
    this.#sinks = sinks;
    for (const sink of sinks) this.#logger.add(sink);
  }

  /** SIGUSR1: closes and reopens the `output` file (logrotate renamed it), logs `Log file reopened`. */
  reopen(): void {
    if (this.#file) {
      try {
        this.#file.reopen();
      } catch (error) {
        this.write(3, 'ui', (error as StartupError).messages?.[0] ?? String(error));
        return;
      }
    }
    this.write(5, 'ui', 'Log file reopened');
  }

  /**
   * The syslog sink these settings ask for: the open one when ident and facility are unchanged
   * (its socket was connected before any chroot and could not be connected again inside it).
   */
  #syslogSink(settings: LogSettings): SyslogSink | null {
    if (settings.syslog === null) return null;
    const current = this.#sinks.find((sink): sink is SyslogSink => sink instanceof SyslogSink);
    if (current && current.ident === settings.syslog.ident && current.facilityName === settings.syslog.facility) return current;
    const addon = nativeAddon();
    if (addon === null) return null;
    return new SyslogSink(addon, settings.syslog.ident, settings.syslog.facility, process.env[SYSLOG_PATH_ENV] || '/dev/log');
  }

  #closeSinks(keep: LineSink | null = null): void {
    for (const sink of this.#sinks) {
      this.#logger.remove(sink);
      if (sink !== keep) sink.release();
    }
    this.#sinks = [];
    this.#file = null;
  }

  close(): void {
    this.#closeSinks();
  }
}
