/**
 * @module process/limits
 * The open-files limit (RLIMIT_NOFILE) read from /proc/self/limits, soft and hard, and the
 * start-up lines that show it with the clients allowed (engine/limits computes that number).
 */
import { readFileSync } from 'node:fs';
import { clientsAllowed } from '../engine/limits';

export interface OpenFilesLimit {
  /** null = unlimited. */
  readonly soft: number | null;
  readonly hard: number | null;
}

/** Parses the `Max open files` row of a /proc/PID/limits text; null when the row is missing. */
export function parseOpenFilesLimit(text: string): OpenFilesLimit | null {
  const row = text.split('\n').find((line) => line.startsWith('Max open files'));
  if (!row) return null;
  const [soft, hard] = row.slice('Max open files'.length).trim().split(/\s+/);
  const value = (field: string | undefined) => (field === undefined || field === 'unlimited' ? null : Number(field));
  return { soft: value(soft), hard: value(hard) };
}

/** This process's limit, or null when /proc is not mounted (e.g. read inside a bare chroot). */
export function readOpenFilesLimit(pid: number | 'self' = 'self'): OpenFilesLimit | null {
  try {
    return parseOpenFilesLimit(readFileSync(`/proc/${pid}/limits`, 'latin1'));
  } catch {
    return null;
  }
}

/** The start-up line (LOG5) that shows the operator the wall; the engine logs stunnel's `Clients allowed=N` (LOG7). */
export function limitLine(limit: OpenFilesLimit | null): { level: 5; text: string } {
  const allowed = clientsAllowed(limit?.soft ?? null);
  const show = (n: number | null) => (n === null ? 'unlimited' : String(n));
  return {
    level: 5,
    text: limit === null
      ? `Open files limit unknown (/proc/self/limits unreadable); clients allowed: ${allowed}`
      : `Open files limit: ${show(limit.soft)} (hard ${show(limit.hard)}); clients allowed: ${allowed}`,
  };
}
