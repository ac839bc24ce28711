/**
 * @module process/startup
 * What every run mode shares around start-up and reload: where start-up lines are
 * printed, how a failed start is reported, the log sinks a configuration asks for, and
 * reading the configuration again on SIGHUP.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/model';
import { ConfigError } from '../errors';
import { logSettingsFrom, type Log, type LogSettings } from '../log';
import type { DaemonStatus } from './daemon';
import { messagesOf } from './failures';

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
