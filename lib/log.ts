/**
 * @module log
 * The log contract every part writes through: stunnel's levels and ids.
 * (The full winston-backed implementation with sinks and reopen lives here too.)
 */
import type { LogLevel } from './config/model';

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
