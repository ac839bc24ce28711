/**
 * @module process/limits
 * The start-up line that shows the open-files limit (RLIMIT_NOFILE, soft and hard) with the
 * clients allowed; engine/limits reads the limit and computes that number.
 */
import { clientsAllowed, type OpenFilesLimit } from '../engine/limits';

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
