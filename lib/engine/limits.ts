/**
 * @module engine/limits
 * How many clients one process serves at once, from its descriptor limit, by stunnel's
 * rule: limit*125/256 when the limit is at least 256, else (limit-6)/2.
 */
import { readFileSync } from 'node:fs';

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
