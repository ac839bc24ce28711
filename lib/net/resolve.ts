/**
 * @module net/resolve
 * Name lookups as stunnel makes them: getaddrinfo (Node's `dns.lookup`, every address), tried
 * again after a pause while the resolver answers EAI_AGAIN (`getaddrinfo: EAI_AGAIN received:
 * retrying` at LOG7, one second apart, three times: stunnel 5.68 observed with an unreachable
 * name server), and failures worded as stunnel words them: `Neither nodename nor servname
 * known (EAI_NONAME)`, not Node's `getaddrinfo ENOTFOUND name`.
 */
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import type { LogLevel } from '../config/model';

/** Where a lookup's lines go (the connection's or the start-up's log). */
export interface ResolveLog {
  say(level: LogLevel, text: string): void;
}

const RETRIES = 3;
const RETRY_PAUSE_MS = 1000;

/**
 * stunnel's words for getaddrinfo's failures, by the code Node gives them (Node reports
 * EAI_NONAME, and EAI_NODATA with it, as ENOTFOUND). EAI_NONAME and EAI_AGAIN are checked
 * against stunnel 5.68; the others follow the same pattern (description, then the code).
 */
const GAI_TEXTS: Readonly<Record<string, string>> = {
  ENOTFOUND: 'Neither nodename nor servname known (EAI_NONAME)',
  EAI_AGAIN: 'Temporary failure in name resolution (EAI_AGAIN)',
  EAI_FAIL: 'Non-recoverable failure in name resolution (EAI_FAIL)',
  EAI_BADFLAGS: 'Invalid value for ai_flags (EAI_BADFLAGS)',
  EAI_FAMILY: 'ai_family not supported (EAI_FAMILY)',
  EAI_SERVICE: 'servname is not supported for ai_socktype (EAI_SERVICE)',
  EAI_SOCKTYPE: 'ai_socktype not supported (EAI_SOCKTYPE)',
  EAI_MEMORY: 'Memory allocation failure (EAI_MEMORY)',
};

/** A lookup failure in stunnel's words; anything else by its message. */
export function resolverErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && Object.hasOwn(GAI_TEXTS, code)) return GAI_TEXTS[code];
  return err instanceof Error ? err.message : String(err);
}

/** An error with Node's code for "no such name" (what getaddrinfo says of an empty name). */
function notFound(name: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
}

/**
 * Every address of `name`. Rejects with the last lookup error (resolverErrorText words it);
 * the `Error resolving` line is the caller's, since what follows it differs.
 */
export async function resolveName(name: string, log: ResolveLog): Promise<LookupAddress[]> {
  // Node answers an empty name with no address and no error; getaddrinfo refuses it.
  if (name === '') throw notFound(name);
  for (let attempt = 0; ; attempt++) {
    try {
      const found = await lookup(name, { all: true });
      if (found.length === 0) throw notFound(name);
      return found;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAI_AGAIN' || attempt >= RETRIES) throw err;
      log.say(7, 'getaddrinfo: EAI_AGAIN received: retrying');
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    }
  }
}
