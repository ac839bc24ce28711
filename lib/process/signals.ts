/**
 * @module process/signals
 * stunnel's signals: HUP reloads the configuration, USR1 reopens the log file, USR2 lists
 * active connections, TERM/INT/QUIT terminate (exit 0). Handlers only queue the work on the
 * event loop, as stunnel's signal pipe does; reloads never overlap.
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

/** Installs the handlers; returns a function that removes them. */
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
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
