/**
 * @module engine/limits
 * How many clients one process serves at once, from its descriptor limit, by stunnel's
 * rule: limit*125/256 when the limit is at least 256, else (limit-6)/2.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The soft `Max open files` of this process, or null when /proc is unavailable or unlimited. */
export function descriptorLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (!match || match[1] === 'unlimited') return null;
  return Number(match[1]);
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
