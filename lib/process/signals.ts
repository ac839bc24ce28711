/**
 * @module process/signals
 * stunnel's signals: HUP reloads the configuration, USR1 reopens the log file, USR2 lists
 * active connections, TERM/INT/QUIT terminate (exit 0). Handlers only queue the work on the
 * event loop, as stunnel's signal pipe does; reloads never overlap.
 *
 * During start-up HUP, USR1 and USR2 are held (holdSignals): their default action would kill a
 * daemon an init script's `reload` reaches before it is ready. Once the handlers are installed,
 * each held signal is carried out once, in the order they came.
 *
 * Node resets every inherited signal disposition to the default before any JavaScript runs,
 * so an ignored INT/QUIT inherited from a non-interactive shell (which stunnel respects)
 * cannot be detected here: INT and QUIT always terminate.
 */
import type { ActiveConnection } from '../engine/engine';
import type { LogWriter } from '../log';

export type TerminationSignal = 'SIGTERM' | 'SIGINT' | 'SIGQUIT';

export interface SignalActions {
  /** SIGHUP: re-read the configuration (logs its own outcome). */
  reload(): Promise<void>;
  /** SIGUSR1. */
  reopenLog(): void;
  /** SIGUSR2 (a promise when the connections live in worker processes). */
  activeConnections(): readonly ActiveConnection[] | Promise<readonly ActiveConnection[]>;
  /** TERM/INT/QUIT (the action logs `terminationLine`, at once or at the end of a drain). */
  terminate(signal: TerminationSignal): void;
}

/** The line a termination signal logs: TERM at LOG5, INT and QUIT at LOG3. */
export function terminationLine(signal: TerminationSignal): { level: 3 | 5; text: string } {
  return signal === 'SIGTERM' ? { level: 5, text: 'Terminated' } : { level: 3, text: `Received ${signal}; terminating` };
}

/** SIGUSR2's listing, every line at LOG_EMERG so that it always shows. */
export function logActiveConnections(log: LogWriter, connections: readonly ActiveConnection[]): void {
  log.write(0, 'ui', 'Active connections:');
  connections.forEach((c, i) => {
    log.write(0, 'ui', `Active connection ${i + 1}: Service [${c.service}], ${c.sentToTls} byte(s) sent to TLS, ` +
      `${c.sentToSocket} byte(s) sent to socket`);
  });
  log.write(0, 'ui', `Listed ${connections.length} active connection(s)`);
}

const HELD_SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;

/** What start-up holds: the handler that records, and the signals recorded (each once). */
let held: { readonly record: (signal: NodeJS.Signals) => void; readonly arrived: NodeJS.Signals[] } | null = null;

/** From now until installSignalHandlers, HUP/USR1/USR2 are recorded instead of killing the process. */
export function holdSignals(): void {
  if (held !== null) return;
  const arrived: NodeJS.Signals[] = [];
  const record = (signal: NodeJS.Signals) => {
    if (!arrived.includes(signal)) arrived.push(signal);
  };
  for (const signal of HELD_SIGNALS) process.on(signal, record);
  held = { record, arrived };
}

/** Stops holding; the signals that arrived meanwhile. */
function releaseHeld(): NodeJS.Signals[] {
  if (held === null) return [];
  const { record, arrived } = held;
  for (const signal of HELD_SIGNALS) process.off(signal, record);
  held = null;
  return arrived;
}

/** Installs the handlers (and carries out what start-up held); returns a function that removes them. */
export function installSignalHandlers(log: LogWriter, actions: SignalActions): () => void {
  let reloading: Promise<void> = Promise.resolve();
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGHUP', () => {
      reloading = reloading.then(() => {
        log.write(7, 'ui', 'Processing SIGNAL_RELOAD_CONFIG');
        return actions.reload();
      }).catch((error) => log.write(3, 'ui', `Reload failed: ${(error as Error).message}`));
    }],
    ['SIGUSR1', () => actions.reopenLog()],
    ['SIGUSR2', () => {
      const connections = actions.activeConnections();
      if (Array.isArray(connections)) logActiveConnections(log, connections);
      else void Promise.resolve(connections).then((list) => logActiveConnections(log, list));
    }],
  ];
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) {
    handlers.push([signal, () => actions.terminate(signal)]);
  }
  for (const [signal, handler] of handlers) process.on(signal, handler);
  for (const signal of releaseHeld()) process.emit(signal, signal);
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
