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
  | { readonly cmd: 'terminate' }
  /** TIMEOUTdrain: stop accepting, let the tunnels end for up to `seconds`, then exit (`terminate` meanwhile: at once). */
  | { readonly cmd: 'drain'; readonly seconds: number }
  /** Sessions other workers made (process/sessionshare): store each in its service's cache. */
  | { readonly cmd: 'sessions'; readonly list: readonly SharedSession[] };

/**
 * A TLS session resumable by id, as it travels between processes (process/sessionshare):
 * `service` is the section name, `id` the session id in hex, `data` OpenSSL's serialization in base64.
 */
export interface SharedSession {
  readonly service: string;
  readonly id: string;
  readonly data: string;
}

/** Sessions travel in batches of at most this many (those made in one event-loop turn). */
export const MAX_SESSION_BATCH = 64;

/** Worker → primary. */
export type WorkerEvent =
  /** The worker listens for commands: the primary sends `start` (a message sent earlier would be lost). */
  | { readonly event: 'waiting' }
  | { readonly event: 'ready' }
  /** Start-up failed: the error lines, as a single process prints them. */
  | { readonly event: 'failed'; readonly lines: readonly string[] }
  | { readonly event: 'reloaded'; readonly failure: readonly string[] | null }
  | { readonly event: 'connections'; readonly list: readonly ActiveConnection[] }
  | { readonly event: 'metrics'; readonly json: readonly unknown[] }
  /** Sessions this worker made, for the primary to keep and relay to the others. */
  | { readonly event: 'sessions'; readonly list: readonly SharedSession[] };

/*
 * Validation. Workers run as the service user: the primary, which keeps root, takes nothing
 * from them on trust. Every event type has one validator of its shape below; a message that
 * names no known event, or fails its validator, is dropped (and reported by the caller).
 * A new event type adds its row: the table must cover every `event` of WorkerEvent.
 */
type Fields = Readonly<Record<string, unknown>>;

const isString = (value: unknown): value is string => typeof value === 'string';
const isCount = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;
const isStringList = (value: unknown): boolean => Array.isArray(value) && value.every(isString);
const isConnection = (value: unknown): boolean => typeof value === 'object' && value !== null &&
  isString((value as Fields).service) && isString((value as Fields).id) &&
  isCount((value as Fields).sentToTls) && isCount((value as Fields).sentToSocket);

/** One series of prom-client's getMetricsAsJSON: name, help, type, aggregator, and values with labels. */
const isMetric = (value: unknown): boolean => typeof value === 'object' && value !== null &&
  isString((value as Fields).name) && isString((value as Fields).help) && isString((value as Fields).type) &&
  isString((value as Fields).aggregator) && Array.isArray((value as Fields).values) &&
  ((value as Fields).values as unknown[]).every((v) => typeof v === 'object' && v !== null &&
    typeof (v as Fields).value === 'number' && typeof (v as Fields).labels === 'object' && (v as Fields).labels !== null);

/** Session ids are 1 to 32 bytes (SSL_MAX_SSL_SESSION_ID_LENGTH), in lowercase hex. */
const isSessionId = (value: unknown): boolean => isString(value) && /^(?:[0-9a-f]{2}){1,32}$/.test(value);
/** Node hands out no session over 10 KiB (its kMaxSessionSize): 16 KiB leaves room and bounds the primary's copy. */
export const MAX_SESSION_BYTES = 16 * 1024;
const isSessionData = (value: unknown): boolean => isString(value) && value.length > 0 && value.length % 4 === 0 &&
  value.length <= Math.ceil(MAX_SESSION_BYTES / 3) * 4 && /^[A-Za-z0-9+/]+={0,2}$/.test(value);
const isSharedSession = (value: unknown): boolean => typeof value === 'object' && value !== null &&
  isString((value as Fields).service) && isSessionId((value as Fields).id) && isSessionData((value as Fields).data);

const WORKER_EVENT_SHAPES: { readonly [K in WorkerEvent['event']]: (message: Fields) => boolean } = {
  waiting: () => true,
  ready: () => true,
  failed: (m) => isStringList(m.lines),
  reloaded: (m) => m.failure === null || isStringList(m.failure),
  connections: (m) => Array.isArray(m.list) && m.list.every(isConnection),
  metrics: (m) => Array.isArray(m.json) && m.json.every(isMetric),
  sessions: (m) => Array.isArray(m.list) && m.list.length > 0 && m.list.length <= MAX_SESSION_BATCH && m.list.every(isSharedSession),
};

/** True when `message` is a worker event of a known type with that type's shape. */
export function isWorkerEvent(message: unknown): message is WorkerEvent {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return false;
  const event = (message as Fields).event;
  if (!isString(event) || !Object.hasOwn(WORKER_EVENT_SHAPES, event)) return false;
  return WORKER_EVENT_SHAPES[event as WorkerEvent['event']](message as Fields);
}

export function isCommand(message: unknown): message is Command {
  return typeof message === 'object' && message !== null && typeof (message as { cmd?: unknown }).cmd === 'string';
}
