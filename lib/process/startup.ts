/**
 * @module process/startup
 * What every run mode shares around start-up and reload: where start-up lines are
 * printed, how a failed start is reported, the log sinks a configuration asks for,
 * reading the configuration again on SIGHUP, and serving until a termination signal.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/model';
import { ConfigError } from '../errors';
import { logSettingsFrom, type Log, type LogSettings } from '../log';
import type { DaemonStatus } from './daemon';
import { messagesOf } from './failures';
import type { PidFile } from './pidfile';
import { drainState } from './drain';
import { systemdNotifier } from './notify';
import { installSignalHandlers, terminationLine, type SignalActions, type TerminationSignal } from './signals';

/** Where start-up lines end up: our stderr, or the daemon parent's through the status pipe. */
export type LinePrinter = (text: string) => void;

export function printerFor(status: DaemonStatus | null): LinePrinter {
  return status ? (text) => status.line(text) : (text) => process.stderr.write(text + '\n');
}

/**
 * Runs `steps` and reports a failure as stunnel does: before the log is open, every line
 * kept so far (debug included) on stderr as `[c] text`; after, the error lines logged and
 * printed as `[!] text`.
 */
export async function startup(log: Log, print: LinePrinter, steps: () => Promise<void>): Promise<boolean> {
  try {
    await steps();
    return true;
  } catch (error) {
    const messages = messagesOf(error);
    // The engine logs some failures before throwing them (a bind error at LOG5): don't repeat those.
    const logged = new Set(log.startupLines().map((line) => line.slice(4)));
    for (const line of messages) if (!logged.has(line)) log.write(3, 'ui', line);
    const lines = log.buffering ? log.startupLines() : messages.map((m) => `[!] ${m}`);
    for (const line of lines) print(line);
    return false;
  }
}

/** The sinks, keeping the stderr choice of the start (`foreground` is not re-applied on reload). */
export function settingsFor(config: Config, stderr: boolean): LogSettings {
  return { ...logSettingsFrom(config), stderr };
}

/**
 * A reload opens the name resolved at start-up as it is (no second realpath), from the
 * daemon's cwd `/` and inside the chroot if there is one: stunnel's `Cannot open configuration file`.
 */
export function readReloadSource(source: string): Buffer {
  try {
    return readFileSync(source);
  } catch {
    throw new ConfigError(['Cannot open configuration file', 'Configuration failed']);
  }
}

/** What serveUntilTerminated needs of the server: to stop at once, or to drain (TIMEOUTdrain). */
export interface Stoppable {
  stop(): Promise<void>;
  drain(seconds: number): Promise<void>;
}

/**
 * The running phase after a successful start: signals handled, `Accepting new connections`,
 * the daemon parent and systemd told; on TERM/INT/QUIT the server stops (the termination
 * line first), or with `TIMEOUTdrain` drains (`Draining N connection(s) for up to S s`, the
 * termination line at its end; a second signal stops at once). Then the pid file goes and
 * the log closes. Resolves with the exit code.
 */
export async function serveUntilTerminated(
  log: Log, status: DaemonStatus | null, pidFile: PidFile | null,
  actions: Omit<SignalActions, 'terminate'>, server: Stoppable, drainSeconds: () => number,
): Promise<number> {
  const notifier = systemdNotifier(log);
  let terminated: (signal: TerminationSignal) => void = () => undefined;
  const termination = new Promise<TerminationSignal>((resolve) => (terminated = resolve));
  let first: TerminationSignal | null = null;
  // An object, not a `let`: the signal handler fills it in, which TypeScript's narrowing cannot see.
  const stop: { pending: Promise<void> | null } = { pending: null };
  let draining = false;
  const terminate = (signal: TerminationSignal): void => {
    if (first === null) {
      first = signal;
      terminated(signal);
    } else if (draining) {
      // A second signal during a drain: drop what is left now.
      stop.pending ??= server.stop();
    }
  };
  const uninstall = installSignalHandlers(log, {
    ...actions,
    reload: async () => {
      // Once stopping (a drain under way), a reload would bind the listeners again: ignored.
      if (first !== null) return;
      notifier.reloading();
      try {
        await actions.reload();
      } finally {
        notifier.ready();
      }
    },
    terminate,
  });
  process.on('uncaughtException', (error) => {
    log.write(3, 'ui', `Internal error: ${error.stack ?? error.message}`);
    pidFile?.remove();
    // Worker processes follow: a worker whose primary is gone exits.
    process.exit(1);
  });
  log.write(6, 'ui', 'Accepting new connections');
  status?.ready();
  notifier.ready();

  const signal = await termination;
  notifier.stopping();
  const line = terminationLine(signal);
  const seconds = drainSeconds();
  if (seconds > 0) {
    draining = true;
    drainState.start(seconds);
    const count = (await actions.activeConnections()).length;
    log.write(5, 'ui', `Draining ${count} connection(s) for up to ${seconds} s`);
    await server.drain(seconds).catch((error) => log.write(3, 'ui', `Shutdown: ${messagesOf(error)[0]}`));
    if (stop.pending) await stop.pending;
    log.write(line.level, 'ui', line.text);
  } else {
    log.write(line.level, 'ui', line.text);
    await server.stop().catch((error) => log.write(3, 'ui', `Shutdown: ${messagesOf(error)[0]}`));
  }
  uninstall();
  notifier.close();
  pidFile?.remove();
  log.close();
  return 0;
}
