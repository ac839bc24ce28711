/**
 * @module process/daemon
 * Daemonizing without fork(2). The parent has already validated the configuration; it
 * starts a detached copy of itself (new session, stdio on /dev/null) with one extra pipe,
 * the status pipe. The child runs the whole start-up (contexts, bind, chroot, privilege
 * drop, log, pid file) and writes either `ready` or its error lines there; the parent
 * prints the errors on stderr and exits 1, or exits 0 once the child is ready, so the
 * ports accept connections the moment the command returns.
 */
import { spawn } from 'node:child_process';
import { closeSync, readFileSync, writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';

/** Set in the child's environment: the descriptor of its status pipe. */
export const DAEMON_ENV = 'STUNNEL_TS_DAEMON_STATUS_FD';
/** Set in the child's environment when the parent was told key passphrases: the pipe they come on. */
export const SECRETS_ENV = 'STUNNEL_TS_DAEMON_SECRETS_FD';

/** One message on the status pipe (a JSON line). */
type Status = { readonly ready: true } | { readonly line: string };

/** The status pipe as the child sees it; null in every other process. Removes the variable (exec'd programs must not see it). */
export function daemonStatusPipe(): DaemonStatus | null {
  const value = process.env[DAEMON_ENV];
  if (value === undefined) return null;
  delete process.env[DAEMON_ENV];
  const fd = Number(value);
  return Number.isInteger(fd) && fd > 2 ? new DaemonStatus(fd) : null;
}

/**
 * The key passphrases the parent was told before it detached the child (file → passphrase),
 * read once from their pipe; empty when there were none. Removes the variable.
 */
export function daemonSecrets(): Array<[string, string]> {
  const value = process.env[SECRETS_ENV];
  if (value === undefined) return [];
  delete process.env[SECRETS_ENV];
  const fd = Number(value);
  if (!Number.isInteger(fd) || fd <= 2) return [];
  try {
    return JSON.parse(readFileSync(fd, 'utf8')) as Array<[string, string]>;
  } finally {
    closeSync(fd);
  }
}

/** The child's end of the status pipe. */
export class DaemonStatus {
  #fd: number | null;
  constructor(fd: number) {
    this.#fd = fd;
  }
  #send(status: Status): void {
    if (this.#fd === null) return;
    try {
      writeSync(this.#fd, JSON.stringify(status) + '\n');
    } catch {
      // The parent is gone (killed while waiting): nobody to tell.
    }
  }
  /** A start-up line for the parent's stderr (`[!] text`). */
  line(text: string): void {
    this.#send({ line: text });
  }
  /** Start-up succeeded: the parent exits 0. Closes the pipe. */
  ready(): void {
    this.#send({ ready: true });
    this.close();
  }
  close(): void {
    if (this.#fd === null) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Already closed.
    }
    this.#fd = null;
  }
}

export interface SpawnOptions {
  /** With `-fd N`: the configuration text, written to the child's descriptor N. */
  readonly config?: { readonly fd: number; readonly bytes: Buffer };
  /** Key passphrases asked for on the terminal, for the child (never through its environment). */
  readonly secrets?: ReadonlyArray<readonly [string, string]>;
  /** Where error lines go (the parent's stderr). */
  readonly printLine: (text: string) => void;
}

/** Starts the daemon child and resolves with the parent's exit code (0 once the child is ready). */
export function spawnDaemon(options: SpawnOptions): Promise<number> {
  const configFd = options.config?.fd ?? -1;
  const [statusFd, secretsFd] = [3, 4, 5].filter((fd) => fd !== configFd);
  const secrets = options.secrets !== undefined && options.secrets.length > 0 ? options.secrets : null;
  const stdio = new Array<'ignore' | 'pipe'>(Math.max(statusFd, secretsFd, configFd) + 1).fill('ignore');
  stdio[statusFd] = 'pipe';
  if (configFd >= 0) stdio[configFd] = 'pipe';
  if (secrets) stdio[secretsFd] = 'pipe';
  const env: NodeJS.ProcessEnv = { ...process.env, [DAEMON_ENV]: String(statusFd) };
  if (secrets) env[SECRETS_ENV] = String(secretsFd);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { detached: true, stdio, env });
  if (options.config) (child.stdio[configFd] as Writable).end(options.config.bytes);
  if (secrets) (child.stdio[secretsFd] as Writable).end(JSON.stringify(secrets));
  const status = child.stdio[statusFd] as Readable;
  return new Promise((resolve) => {
    let buffered = '';
    let printed = false;
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      status.destroy();
      if (configFd >= 0) (child.stdio[configFd] as Writable).destroy();
      if (secrets) (child.stdio[secretsFd] as Writable).destroy();
      child.unref();
      resolve(code);
    };
    status.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const message = JSON.parse(buffered.slice(0, newline)) as Status;
        buffered = buffered.slice(newline + 1);
        if ('ready' in message) return finish(0);
        options.printLine(message.line);
        printed = true;
      }
    });
    child.on('error', (error) => {
      options.printLine(`[!] Cannot start the daemon process: ${error.message}`);
      finish(1);
    });
    // Error lines may still be in the pipe when 'exit' arrives: conclude once both are done.
    let exit: string | null = null;
    let statusEnded = false;
    const concludeFailure = () => {
      if (exit === null || !statusEnded) return;
      if (!printed) options.printLine(`[!] The daemon process ${exit} before it was ready`);
      finish(1);
    };
    status.on('close', () => {
      statusEnded = true;
      concludeFailure();
    });
    child.on('exit', (code, signal) => {
      exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      concludeFailure();
    });
  });
}
