/**
 * @module log
 * stunnel's log: levels 0..7 (syslog's), the `LOG5[id]: text` line, and its three sinks
 * (the `output` file, stderr in the foreground, syslog), on winston.
 *
 * Until the sinks are opened (after the privilege drop, as stunnel does) every line is kept
 * in memory, whatever its level; a start-up failure prints them all on stderr in the short
 * `[!] text` shape, and a successful start flushes the ones within the level to the sinks.
 *
 * The per-line path is kept cheap because the engine logs several lines per connection:
 * the level is checked before anything is formatted, the `YYYY.MM.DD HH:MM:SS` prefix is
 * built once per second, and the lines of one event-loop turn are joined and written with
 * one write(2) per sink when the turn ends (at once when the process exits, the file is
 * reopened or the log closed, so nothing is lost). winston holds the sinks (they are its
 * transports, and `winston.Logger#log` still reaches them), but lines do not travel
 * through its stream pipeline.
 *
 * JSON LINES (`logFormat = json`, a stunnel-ts extension). Each line becomes one JSON object
 * (`time`, `level`, `id`, `message`, and what the connection adds: `service`, `peer`, `event`,
 * and in the `Connection closed` object the connection's summary), made by winston's formats
 * (logform's `json`) and written to the same sinks, on the same batched path; syslog gets the
 * object as its message. Levels and `debug =` filter exactly as in text mode.
 */
import { closeSync, openSync, writeSync, constants as fsConstants } from 'node:fs';
import * as winston from 'winston';
import type TransportStream from 'winston-transport';
import { StartupError } from './errors';
import type { Config, LogLevel } from './config/model';
import { SYSLOG_FACILITIES } from './config/values';
import { nativeAddon, type NativeAddon } from './native';

/** One log line: level 0..7, id (`ui`, `main`, `cron` or a connection id) and text without timestamp. */
export interface LogWriter {
  write(level: LogLevel, id: string, text: string): void;
  /** `logFormat = json`: where lines with fields go; null (or absent) in text mode. */
  readonly structured?: StructuredWriter | null;
}

/** What a JSON line carries besides time, level, id and message. */
export type LogFields = Readonly<Record<string, string | number | boolean | null | Readonly<Record<string, number>>>>;

/** JSON mode: a line with fields (`message` is the text a text-mode line would have). */
export interface StructuredWriter {
  record(level: LogLevel, id: string, message: string, fields: LogFields): void;
}

const two = (n: number) => (n < 10 ? '0' + n : String(n));

/** `YYYY.MM.DD HH:MM:SS` in local time, the start of every file and stderr line. */
function fileStamp(date: Date): string {
  return `${date.getFullYear()}.${two(date.getMonth() + 1)}.${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** stunnel's line without its timestamp, `LOG5[id]: text`: every text sink and syslog datagram carries it. */
function logLine(level: LogLevel, id: string, text: string): string {
  return `LOG${level}[${id}]: ${text}`;
}

/** Formats a line as stunnel does in files and on stderr: `YYYY.MM.DD HH:MM:SS LOG5[id]: text`, local time. */
export function formatLine(date: Date, level: LogLevel, id: string, text: string): string {
  return `${fileStamp(date)} ${logLine(level, id, text)}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Nov 26 03:34:59`, the RFC 3164 timestamp glibc's syslog(3) sends. */
function syslogStamp(date: Date): string {
  return `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/**
 * A timestamp string rebuilt only when the second changes: the clock is read as a number
 * (Date.now) for every line, a Date is built and formatted once per second.
 */
class SecondStamp {
  #second = -1;
  #text = '';
  constructor(readonly format: (date: Date) => string) {}
  now(): string {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#text = this.format(new Date(second * 1000));
    }
    return this.#text;
  }
}

/** The one-character tag of a start-up message on stderr: `[!] Configuration failed`. */
export function stderrTag(level: LogLevel): string {
  return level <= 2 ? '*' : level === 3 ? '!' : level === 4 ? ':' : level === 5 ? '.' : ' ';
}

/** A start-up message in the short stderr shape, without time or id. */
export function formatStartupLine(level: LogLevel, text: string): string {
  return `[${stderrTag(level)}] ${text}`;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\x00-\x1f\x7f]/;

/** Cuts to 1024 bytes, strips trailing newlines, turns other ASCII control characters into dots. */
export function cleanText(text: string): string {
  // The usual line: short (341 UTF-16 units are at most 1023 UTF-8 bytes) and printable.
  if (text.length <= 341 && !CONTROL_CHARACTER.test(text)) return text;
  let cleaned = text.replace(/[\r\n]+$/, '');
  if (Buffer.byteLength(cleaned) > 1024) cleaned = Buffer.from(cleaned).subarray(0, 1024).toString();
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(cleaned) ? cleaned.replace(/[\x00-\x1f\x7f]/g, '.') : cleaned;
}

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
  /** `logFormat`: stunnel's lines, or one JSON object per line. */
  readonly format?: 'text' | 'json';
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
    format: g.logFormat,
  };
}

/** Environment variable that moves syslog's socket away from /dev/log (tests bind their own). */
export const SYSLOG_PATH_ENV = 'STUNNEL_TS_SYSLOG_PATH';


const LEVEL_NAMES = ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug'] as const;
const WINSTON_LEVELS: Record<string, number> = Object.fromEntries(LEVEL_NAMES.map((name, i) => [name, i]));
/** winston puts the finished line under this key (triple-beam's MESSAGE). */
const FORMATTED = Symbol.for('message');
/** The JSON line's format: logform's `json` (stable key order, safe with odd values). */
const JSON_FORMAT = winston.format.json();

/** One JSON log line, made by winston's format. */
export function formatJsonLine(date: Date, level: LogLevel, id: string, message: string, fields: LogFields = {}): string {
  const info = { time: date.toISOString(), ...fields, level: LEVEL_NAMES[level], id, message };
  const formatted = JSON_FORMAT.transform(info, {}) as unknown as Record<symbol, string>;
  return formatted[FORMATTED];
}

/** Lines of the main thread (their level is the global `debug`), as opposed to connection lines. */
function isMainId(id: string): boolean {
  return id === 'ui' || id === 'main' || id === 'cron';
}

/** What a sink receives when a line is logged through the winston Logger itself. */
interface Entry {
  readonly level: string;
  readonly message: string;
  readonly logLevel: LogLevel;
  readonly id: string;
}

/** winston's Transport base class (exported at run time as `Transport`; its typings call it `transport`). */
const Transport = (winston as unknown as { Transport: typeof TransportStream }).Transport;

/**
 * A sink. Log hands it text itself (see the module comment); `log()` is the winston entry
 * point, kept working for lines logged through the Logger. Sinks write synchronously and
 * never throw: a sink that cannot write drops the line, logging never takes a tunnel down.
 */
abstract class Sink extends Transport {
  override log(entry: Entry, done: () => void): void {
    this.writeOne(entry.logLevel, entry.id, cleanText(entry.message));
    done();
  }
  protected abstract writeOne(level: LogLevel, id: string, text: string): void;
  /** Frees the sink's descriptor. (Not `close`: winston calls that on every unpipe, also for a sink we keep.) */
  release(): void {}
}

/** A sink of `YYYY.MM.DD HH:MM:SS LOGn[id]: text` lines: the file and stderr. */
abstract class TextSink extends Sink {
  readonly #stamp = new SecondStamp(fileStamp);
  protected writeOne(level: LogLevel, id: string, text: string): void {
    this.writeText(`${this.#stamp.now()} ${logLine(level, id, text)}\n`);
  }
  /** Writes whole lines (one or more, each ending in a newline). */
  abstract writeText(text: string): void;
}

/** `output = FILE`: appended (or truncated with `log = overwrite`), reopened on SIGUSR1. */
class FileSink extends TextSink {
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
  /**
   * One write(2). With O_APPEND each write lands whole at the end of the file, so worker
   * processes appending to the same file never split each other's lines.
   */
  writeText(text: string): void {
    try {
      writeSync(this.#fd, text);
    } catch {
      // Disk full or the descriptor went bad: the lines are dropped.
    }
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

/**
 * Up to this many bytes reach a pipe in one piece even when several processes (workers)
 * write to it: PIPE_BUF on Linux. Longer text is cut at line ends into pieces this size.
 */
const PIPE_ATOMIC_BYTES = 4096;

/** `foreground = yes`: every line on stderr too, in the file's format. */
class StderrSink extends TextSink {
  writeText(text: string): void {
    try {
      if (text.length * 3 <= PIPE_ATOMIC_BYTES || Buffer.byteLength(text) <= PIPE_ATOMIC_BYTES) {
        process.stderr.write(text);
        return;
      }
      let rest = Buffer.from(text);
      while (rest.length > 0) {
        const cut = rest.length <= PIPE_ATOMIC_BYTES ? rest.length
          : rest.lastIndexOf(0x0a, PIPE_ATOMIC_BYTES - 1) + 1 || rest.indexOf(0x0a) + 1 || rest.length;
        process.stderr.write(rest.subarray(0, cut));
        rest = rest.subarray(cut);
      }
    } catch {
      // stderr closed: nothing to do.
    }
  }
}

/**
 * `syslog = yes`: RFC 3164 datagrams to /dev/log as glibc's syslog(3) sends them
 * (`<29>Nov 26 03:34:59 stunnel: LOG5[ui]: text`, no pid), one datagram per line. The
 * socket is connected when the log opens, before any chroot, so it keeps working inside
 * the jail; a missing log daemon only drops lines.
 */
class SyslogSink extends Sink {
  #fd = -1;
  #lastAttempt = 0;
  readonly #facility: number;
  readonly #stamp = new SecondStamp(syslogStamp);
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
  protected writeOne(level: LogLevel, id: string, text: string): void {
    this.send(level, id, text);
  }
  /** Sends one line; `date` for a line kept since start-up, else now. */
  send(level: LogLevel, id: string, text: string, date?: Date): void {
    this.sendMessage(level, logLine(level, id, text), date);
  }
  /** Sends one datagram whose message is `message` (a JSON line, or stunnel's `LOGn[id]: text`). */
  sendMessage(level: LogLevel, message: string, date?: Date): void {
    if (this.#fd < 0 && Date.now() - this.#lastAttempt >= 1000) this.#connect();
    if (this.#fd < 0) return;
    const stamp = date ? syslogStamp(date) : this.#stamp.now();
    const datagram = Buffer.from(`<${this.#facility * 8 + level}>${stamp} ${this.ident}: ${message}`);
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

/** Text waiting for the end of the turn is written at once beyond this many characters. */
const PENDING_LIMIT = 64 * 1024;

/** Every Log with open sinks: their pending lines are written when the process exits. */
const openLogs = new Set<Log>();
let exitHookInstalled = false;

function flushOpenLogs(): void {
  for (const log of openLogs) log.flush();
}

/**
 * The process's log. `write(level, 'ui', text)` is how main-thread code logs: once the
 * process has daemonized (`daemonized()`), those lines show as `[main]`, as stunnel's do.
 */
export class Log implements LogWriter, StructuredWriter {
  #settings: LogSettings | null = null;
  /** `this` with `logFormat = json`, else null: what tunnels check once each. */
  #structured: StructuredWriter | null = null;
  #buffer: Buffered[] | null = [];
  #mainId = 'ui';
  #file: FileSink | null = null;
  #textSinks: TextSink[] = [];
  #syslog: SyslogSink | null = null;
  #pending = '';
  #flushTimer: NodeJS.Immediate | null = null;
  readonly #stamp = new SecondStamp(fileStamp);
  readonly #logger: winston.Logger;

  constructor() {
    this.#logger = winston.createLogger({ levels: WINSTON_LEVELS, level: 'debug', exitOnError: false, transports: [] });
  }

  /** True when a line of this level and id would be written (check before building costly text). */
  enabled(level: LogLevel, id = 'ui'): boolean {
    const settings = this.#settings;
    if (settings === null) return true;
    return level <= (isMainId(id) ? settings.level : settings.connectionLevel);
  }

  write(level: LogLevel, id: string, text: string): void {
    const settings = this.#settings;
    if (settings !== null && level > (isMainId(id) ? settings.level : settings.connectionLevel)) return;
    const shownId = id === 'ui' ? this.#mainId : id;
    if (this.#buffer !== null) {
      this.#buffer.push({ date: new Date(), level, id: shownId, text: cleanText(text) });
      return;
    }
    if (this.#structured !== null) return this.#emitJson(new Date(), level, shownId, cleanText(text), {});
    this.#emit(this.#stamp.now(), level, shownId, cleanText(text));
  }

  get structured(): StructuredWriter | null {
    return this.#structured;
  }

  /** StructuredWriter (JSON mode): a connection's line with its fields; filtered by level as `write`. */
  record(level: LogLevel, id: string, message: string, fields: LogFields): void {
    const settings = this.#settings;
    if (settings !== null && level > settings.connectionLevel) return;
    if (this.#buffer !== null || this.#structured === null) return this.write(level, id, message);
    this.#emitJson(new Date(), level, id, cleanText(message), fields);
  }

  /** JSON mode's #emit: one object per line, to the same sinks. */
  #emitJson(date: Date, level: LogLevel, id: string, message: string, fields: LogFields): void {
    const line = formatJsonLine(date, level, id, message, fields);
    if (this.#textSinks.length > 0) {
      this.#pending += line + '\n';
      if (this.#pending.length >= PENDING_LIMIT) this.flush();
      else if (this.#flushTimer === null) this.#flushTimer = setImmediate(this.#flushLater).unref();
    }
    this.#syslog?.sendMessage(level, line, date);
  }

  /** Queues the line for the text sinks (written at the end of the turn) and sends it to syslog. */
  #emit(stamp: string, level: LogLevel, id: string, message: string, date?: Date): void {
    if (this.#textSinks.length > 0) {
      this.#pending += `${stamp} ${logLine(level, id, message)}\n`;
      if (this.#pending.length >= PENDING_LIMIT) this.flush();
      else if (this.#flushTimer === null) this.#flushTimer = setImmediate(this.#flushLater).unref();
    }
    this.#syslog?.send(level, id, message, date);
  }

  readonly #flushLater = (): void => {
    this.#flushTimer = null;
    this.flush();
  };

  /** Writes the lines queued in this turn, one write per sink. Called by itself at the turn's end and at exit. */
  flush(): void {
    if (this.#flushTimer !== null) {
      clearImmediate(this.#flushTimer);
      this.#flushTimer = null;
    }
    const text = this.#pending;
    if (text === '') return;
    this.#pending = '';
    for (const sink of this.#textSinks) sink.writeText(text);
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

  /**
   * Opens the sinks (throws StartupError `Cannot open log file: PATH`) and flushes the
   * buffered lines within the level. `replay` picks which of them by text (a worker process
   * shows only what its primary has not logged already); `false` drops them all.
   */
  open(settings: LogSettings, options: { readonly replay?: false | ((text: string) => boolean) } = {}): void {
    this.#replaceSinks(settings, true);
    const buffered = options.replay === false ? [] : this.#buffer ?? [];
    const wanted = options.replay || (() => true);
    this.#buffer = null;
    for (const line of buffered) {
      if (!this.enabled(line.level, isMainId(line.id) ? 'ui' : line.id) || !wanted(line.text)) continue;
      if (this.#structured !== null) this.#emitJson(line.date, line.level, line.id, line.text, {});
      else this.#emit(fileStamp(line.date), line.level, line.id, line.text, line.date);
    }
  }

  /** SIGHUP: new level and sinks from the reloaded configuration; on failure the old sinks stay. */
  reconfigure(settings: LogSettings): void {
    this.#replaceSinks(settings, true);
  }

  #replaceSinks(settings: LogSettings, withOutput: boolean): void {
    const file = withOutput && settings.output !== null ? new FileSink(settings.output, settings.overwrite) : null;
    const textSinks: TextSink[] = file ? [file] : [];
    if (settings.stderr) textSinks.push(new StderrSink());
    const syslog = this.#syslogSink(settings);
    this.#closeSinks(syslog);
    this.#settings = this.#buffer === null || withOutput ? settings : null;
    this.#structured = this.#settings?.format === 'json' ? this : null;
    this.#file = file;
    this.#textSinks = textSinks;
    this.#syslog = syslog;
    for (const sink of [...textSinks, ...(syslog ? [syslog] : [])]) this.#logger.add(sink);
    if (textSinks.length > 0) {
      openLogs.add(this);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.on('exit', flushOpenLogs);
      }
    }
  }

  /**
   * SIGUSR1: closes and reopens the `output` file (logrotate renamed it), then logs
   * `Log file reopened` (`announce: false`: quietly, in a worker process).
   */
  reopen(announce = true): void {
    this.flush();
    if (this.#file) {
      try {
        this.#file.reopen();
      } catch (error) {
        this.write(3, 'ui', (error as StartupError).messages?.[0] ?? String(error));
        return;
      }
    }
    if (announce) this.write(5, 'ui', 'Log file reopened');
  }

  /**
   * The syslog sink these settings ask for: the open one when ident and facility are unchanged
   * (its socket was connected before any chroot and could not be connected again inside it).
   */
  #syslogSink(settings: LogSettings): SyslogSink | null {
    if (settings.syslog === null) return null;
    const current = this.#syslog;
    if (current && current.ident === settings.syslog.ident && current.facilityName === settings.syslog.facility) return current;
    const addon = nativeAddon();
    if (addon === null) return null;
    return new SyslogSink(addon, settings.syslog.ident, settings.syslog.facility, process.env[SYSLOG_PATH_ENV] || '/dev/log');
  }

  #closeSinks(keep: Sink | null = null): void {
    this.flush();
    for (const sink of [...this.#textSinks, ...(this.#syslog ? [this.#syslog] : [])]) {
      this.#logger.remove(sink);
      if (sink !== keep) sink.release();
    }
    this.#textSinks = [];
    this.#syslog = null;
    this.#file = null;
    openLogs.delete(this);
  }

  close(): void {
    this.#closeSinks();
  }
}
