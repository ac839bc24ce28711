/**
 * @module process/messages
 * What the primary and its worker processes (`workers = N`) say to each other over the
 * cluster IPC channel: commands go down, events come up. Everything is plain JSON; byte
 * strings travel as base64.
 */
import type { ActiveConnection } from '../engine/engine';

/** Primary → worker. */
export type Command =
  /** Start serving: the configuration text and its name (for includes and messages), as the primary read it. */
  | {
    readonly cmd: 'start';
    readonly configBase64: string;
    readonly source: string;
    /** Base64 of the secret every worker derives the same session-ticket keys from. */
    readonly ticketSecretBase64: string;
    /** Show this worker's start-up lines (bind lines): true for the first worker of the first start only. */
    readonly replay: boolean;
    /** Texts the primary has logged already, not to be repeated from the replay. */
    readonly shown: readonly string[];
    /** The daemon runs detached: main-thread lines are `[main]`, cwd becomes `/`. */
    readonly daemonized: boolean;
    /** Passphrases of encrypted keys the primary was told (key file, passphrase): workers never ask. */
    readonly passphrases: ReadonlyArray<readonly [string, string]>;
  }
  | {
    readonly cmd: 'reload';
    readonly configBase64: string;
    readonly source: string;
    readonly passphrases: ReadonlyArray<readonly [string, string]>;
  }
  | { readonly cmd: 'reopenLog' }
  | { readonly cmd: 'listConnections' }
  /** `metrics`: the worker's registry as JSON (prom-client's getMetricsAsJSON). */
  | { readonly cmd: 'metrics' }
  | { readonly cmd: 'terminate' };

/** Worker → primary. */
export type WorkerEvent =
  /** The worker listens for commands: the primary sends `start` (a message sent earlier would be lost). */
  | { readonly event: 'waiting' }
  | { readonly event: 'ready' }
  /** Start-up failed: the error lines, as a single process prints them. */
  | { readonly event: 'failed'; readonly lines: readonly string[] }
  | { readonly event: 'reloaded'; readonly failure: readonly string[] | null }
  | { readonly event: 'connections'; readonly list: readonly ActiveConnection[] }
  | { readonly event: 'metrics'; readonly json: readonly unknown[] };

export function isWorkerEvent(message: unknown): message is WorkerEvent {
  return typeof message === 'object' && message !== null && typeof (message as { event?: unknown }).event === 'string';
}

export function isCommand(message: unknown): message is Command {
  return typeof message === 'object' && message !== null && typeof (message as { cmd?: unknown }).cmd === 'string';
}
