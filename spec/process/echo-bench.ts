/**
 * @module spec/process/echo-bench
 * The set-up the daemon e2e specs share: one temp dir and echo backends for the whole spec
 * file, the stunnel.conf text of a TLS tunnel in front of an echo backend, and daemons
 * started from it; after the file's tests every daemon it was told about is stopped, the
 * backends closed and the temp dir removed.
 */
import { after, before } from 'node:test';
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Running, runStunnelTs, tempDir, writeConf } from '../helpers/daemon';
import { closedPort, echoServer } from '../helpers/config';
import { pki } from '../helpers/pki';
import { makeJail, stopDaemon } from './harness';
import { runToExit, type Finished } from '../helpers/net';

/** Global lines of a foreground test daemon: it logs to stderr only, up to LOG6. */
export const FOREGROUND = 'foreground = yes\nsyslog = no\ndebug = 6';

/** The tunnel section of an echo configuration. */
export interface EchoService {
  /** Port of the echo backend the tunnel connects to. */
  readonly backend: number;
  /** Port it accepts on; 0 (the default) lets the system pick, read back from the `bound to` line. */
  readonly accept?: number;
  /** Section name, `echo` unless given. */
  readonly name?: string;
  /** More lines for the section (e.g. `CAfile = …`). */
  readonly extra?: string;
}

/** stunnel.conf text: the `globals` lines, then one TLS server section (test PKI) in front of the echo backend. */
export function echoConf(globals: string, service: EchoService): string {
  const p = pki();
  return [
    globals,
    `[${service.name ?? 'echo'}]`,
    `accept = 127.0.0.1:${service.accept ?? 0}`,
    `connect = 127.0.0.1:${service.backend}`,
    `cert = ${p.serverCert}`,
    `key = ${p.serverKey}`,
    service.extra ?? '',
  ].join('\n');
}

/** A running echo tunnel whose configuration file the test rewrites. */
export interface Reloadable {
  readonly daemon: Running;
  /** The port it accepts on. */
  readonly port: number;
  /** Its configuration file. */
  readonly conf: string;
  /** Rewrites the file so the tunnel connects to echo backend `backend` (0, 1, …); takes effect on SIGHUP. */
  connectTo(backend: number): void;
}

/** A daemon-mode echo service confined to a chroot jail. */
export interface JailedDaemon {
  readonly jail: string;
  /** The pid file and the log, as seen from outside the jail. */
  readonly pidFile: string;
  readonly logFile: string;
  /** Writes `jailed.conf` (`extraGlobal` adds global lines, e.g. `workers = 2`) and runs the daemon until it has detached. */
  start(extraGlobal?: string): Promise<Finished>;
}

export interface ForegroundOptions {
  /** Starts it from a shell that set `ulimit -n` to this first, as an init script would. */
  readonly openFiles?: number;
  /** Descriptor numbers the daemon inherits open (/dev/null), as from a process manager that leaks them. */
  readonly inherited?: readonly number[];
}

/**
 * A spec file's bench. Create it at the top of the file: it registers a before hook that
 * starts the echo backends and an after hook that cleans everything up. Set-up that needs
 * the backends goes in `bench.before(…)`: node:test starts the before hooks of a file's
 * top level as they are registered, without waiting for the earlier ones.
 */
export class EchoBench {
  /** The spec file's temp dir. */
  readonly dir: string;
  readonly #backends: Array<Awaited<ReturnType<typeof echoServer>>> = [];
  readonly #daemons: Running[] = [];
  readonly #pidFiles: string[] = [];
  readonly #backendCount: number;
  #backendsUp: Promise<void> | null = null;

  constructor(prefix: string, backendCount = 1) {
    this.dir = tempDir(prefix);
    this.#backendCount = backendCount;
    before(() => this.#startBackends());
    after(async () => {
      for (const daemon of this.#daemons) await daemon.stop();
      for (const pidFile of this.#pidFiles) await stopDaemon(pidFile);
      for (const echo of this.#backends) echo.server.close();
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /** Starts the echo backends, once, for whichever hook asks first. */
  #startBackends(): Promise<void> {
    this.#backendsUp ??= (async () => {
      for (let n = 0; n < this.#backendCount; n++) this.#backends.push(await echoServer());
    })();
    return this.#backendsUp;
  }

  /** Registers a before hook that runs once the echo backends are up. */
  before(setUp: () => Promise<void> | void): void {
    before(async () => {
      await this.#startBackends();
      await setUp();
    });
  }

  /** The port of echo backend `n` (counted from 0), once the before hook has run. */
  echoPort(n = 0): number {
    return this.#backends[n].port;
  }

  /** Writes `NAME.conf` in the temp dir: `globals`, then a tunnel to echo backend 0 unless `service` names another. */
  writeEchoConf(name: string, globals: string, service: Partial<EchoService> = {}): string {
    return writeConf(this.dir, `${name}.conf`, echoConf(globals, { backend: this.echoPort(), ...service }));
  }

  /** Starts a foreground daemon on `conf`, stopped after the file's tests; resolves once it accepts connections. */
  async startForeground(conf: string, options: ForegroundOptions = {}): Promise<Running> {
    const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe'];
    const devNull = options.inherited?.length ? openSync('/dev/null', 'r') : null;
    for (const fd of options.inherited ?? []) {
      while (stdio.length < fd) stdio.push('ignore');
      stdio[fd] = devNull!;
    }
    const daemon = options.openFiles === undefined && devNull === null
      ? runStunnelTs([conf])
      : new Running(spawn('sh', ['-c', `${options.openFiles === undefined ? '' : `ulimit -n ${options.openFiles}; `}exec "$0" "$1" "$2"`, process.execPath, BIN, conf], { stdio }));
    if (devNull !== null) closeSync(devNull);
    this.stopAtEnd(daemon);
    await daemon.waitFor(/Accepting new connections/);
    return daemon;
  }

  /**
   * A foreground daemon whose configuration `NAME.conf` a test rewrites before a SIGHUP:
   * `globals` and a tunnel to echo backend 0, accepting on a fixed free port (so the
   * reloaded file names the same listener); resolves once it accepts connections.
   */
  async startReloadable(name: string, globals: string): Promise<Reloadable> {
    const port = await closedPort();
    const connectTo = (backend: number) => { this.writeEchoConf(name, globals, { accept: port, backend: this.echoPort(backend) }); };
    connectTo(0);
    const conf = join(this.dir, `${name}.conf`);
    return { daemon: await this.startForeground(conf), port, conf, connectTo };
  }

  /**
   * A chroot jail in the temp dir (see makeJail) for a daemon that runs as `id`:`id`, with
   * its pid file and log inside; that daemon is stopped after the file's tests.
   */
  jail(id: number): JailedDaemon {
    const { jail, pidFile, logFile } = makeJail(this.dir, id);
    this.stopAtEnd(pidFile);
    const start = (extraGlobal = '') => {
      const globals = [`chroot = ${jail}`, `setuid = ${id}`, `setgid = ${id}`, 'pid = /run/stunnel.pid',
        'output = /log/stunnel.log', 'syslog = no', 'debug = 6', extraGlobal];
      return runToExit(process.execPath, [BIN, this.writeEchoConf('jailed', globals.join('\n'))]);
    };
    return { jail, pidFile, logFile, start };
  }

  /** Stops this daemon after the file's tests: a foreground run, or a detached one by its pid file. */
  stopAtEnd(daemon: Running | string): void {
    if (typeof daemon === 'string') this.#pidFiles.push(daemon);
    else this.#daemons.push(daemon);
  }
}
