/**
 * @module engine/limits
 * How many clients one process serves at once, from its descriptor limit, by stunnel's
 * rule: limit*125/256 when the limit is at least 256, else (limit-6)/2; the limit itself is
 * read here, from /proc (soft and hard).
 */
import { readdirSync, readFileSync } from 'node:fs';

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

/** A process's limit (this one by default), or null when /proc is not mounted (e.g. read inside a bare chroot). */
export function readOpenFilesLimit(pid: number | 'self' = 'self'): OpenFilesLimit | null {
  try {
    return parseOpenFilesLimit(readFileSync(`/proc/${pid}/limits`, 'latin1'));
  } catch {
    return null;
  }
}

/** The soft limit of this process, or null when /proc is unavailable or the limit is unlimited. */
export function descriptorLimit(): number | null {
  return readOpenFilesLimit()?.soft ?? null;
}

export function clientsAllowed(fdLimit: number | null): number {
  if (fdLimit === null) return 500;
  return fdLimit >= 256 ? Math.floor((fdLimit * 125) / 256) : Math.floor((fdLimit - 6) / 2);
}

/** The descriptors this process holds now (from /proc/self/fd); empty when /proc is unavailable. */
export function openDescriptors(): number[] {
  try {
    return readdirSync('/proc/self/fd').map(Number).filter(Number.isInteger);
  } catch {
    return [];
  }
}

/**
 * The descriptor number from which the table counts as full: the `headroom`-th highest slot
 * below the limit that is still free. Descriptors are handed out lowest-first, so a socket
 * numbered at or above it leaves fewer than `headroom` free. Usually that is limit - headroom;
 * descriptors inherited high in the table (a leaky process manager) take slots from the top,
 * and without counting them the kernel's EMFILE would come first, unseen.
 */
export function wallDescriptor(limit: number | null, headroom: number, open: readonly number[] = openDescriptors()): number {
  if (limit === null) return Infinity;
  const taken = new Set(open);
  let free = 0;
  for (let fd = limit - 1; fd >= 0; fd--) {
    if (taken.has(fd)) continue;
    free++;
    if (free === headroom) return fd;
  }
  return 0;
}
