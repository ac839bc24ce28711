/**
 * @module spec/helpers/config
 * In-process engine fixtures: a configuration from stunnel.conf text, an Engine with a
 * memory log that tests can wait on, echo/sink backends, and hashing transfers.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadConfigText } from '../../lib/config/load';
import type { Config, LogLevel } from '../../lib/config/model';
import { Engine } from '../../lib/engine/engine';
import { ConfigError } from '../../lib/errors';
import type { LogWriter } from '../../lib/log';
import { tempDir } from './daemon';

export interface LogLine {
  readonly level: LogLevel;
  readonly id: string;
  readonly text: string;
}

/** A LogWriter that keeps every line and lets a test wait for one. */
export class MemoryLog implements LogWriter {
  readonly lines: LogLine[] = [];
  #waiters: Array<{ re: RegExp; resolve: (line: LogLine) => void }> = [];
  #enders: Array<{ id: string; resolve: () => void }> = [];

  write(level: LogLevel, id: string, text: string): void {
    const line = { level, id, text };
    this.lines.push(line);
    if (this.#enders.length > 0 && /^Connection [a-z/]+: /.test(text)) {
      this.#enders = this.#enders.filter((e) => {
        if (e.id !== id) return true;
        e.resolve();
        return false;
      });
    }
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.re.test(text)) return true;
      w.resolve(line);
      return false;
    });
  }

  /** The first line (seen or future) whose text matches; rejects after the backstop. */
  waitFor(re: RegExp, backstopMs = 10000): Promise<LogLine> {
    const seen = this.lines.find((l) => re.test(l.text));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`backstop: no log line matching ${re}:\n${this.dump()}`)), backstopMs);
      this.#waiters.push({ re, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }

  /**
   * The lines of the connection accepted from 127.0.0.1:`clientPort`, once its
   * `Connection <status>:` line was written; the last text is that line.
   */
  async connection(clientPort: number, backstopMs = 10000): Promise<string[]> {
    const accepted = await this.waitFor(new RegExp(`accepted connection from [^ ]+:${clientPort}$`), backstopMs);
    const id = accepted.id;
    const ended = (l: LogLine) => l.id === id && /^Connection [a-z/]+: /.test(l.text);
    if (!this.lines.some(ended)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`backstop: connection ${id} did not end:\n${this.dump()}`)), backstopMs);
        this.#enders.push({ id, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    }
    return this.texts(id);
  }

  texts(id?: string): string[] {
    return this.lines.filter((l) => id === undefined || l.id === id).map((l) => l.text);
  }

  dump(): string {
    return this.lines.map((l) => `LOG${l.level}[${l.id}]: ${l.text}`).join('\n');
  }
}

let confDir: string | null = null;

/** A Config from stunnel.conf text (leading indentation removed). */
export function configFrom(text: string): Config {
  confDir ??= tempDir('stunnel-ts-conf-');
  return loadConfigText(text.replace(/^[ \t]+/gm, ''), join(confDir, 'test.conf'));
}

/** The error lines of a configuration that must not load (loaded as `/c.conf`); fails the test if it loads. */
export function configErrors(text: string): readonly string[] {
  try {
    loadConfigText(text, '/c.conf');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.messages;
  }
  assert.fail('expected a ConfigError');
}

export interface RunningEngine {
  readonly engine: Engine;
  readonly log: MemoryLog;
  /** Real ports of every `bound to` line, in order. */
  readonly ports: number[];
}

/** Prepares and starts an Engine on the configuration text; `debug = 7` is a good default for tests. */
export async function startEngine(text: string): Promise<RunningEngine> {
  const log = new MemoryLog();
  const engine = new Engine(log);
  await engine.start(engine.prepare(configFrom(text)));
  return { engine, log, ports: boundPorts(log) };
}

export function boundPorts(log: MemoryLog): number[] {
  return log.texts().filter((t) => / bound to .*:\d+$/.test(t)).map((t) => Number(/:(\d+)$/.exec(t)![1]));
}

/** A TCP server on 127.0.0.1:0 that echoes every byte back and half-closes when the client does. */
export async function echoServer(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, sockets };
}

/** A port nothing listens on (bound then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Sends `size` random bytes over `socket`, half-closes, reads everything that comes
 * back until EOF. Resolves with the SHA-256 of what was sent and of what was received.
 */
export async function exchange(socket: Socket | import('node:tls').TLSSocket, size: number): Promise<{ sent: string; received: string; receivedBytes: number }> {
  const payload = randomBytes(size);
  const hash = createHash('sha256');
  let receivedBytes = 0;
  socket.on('data', (chunk: Buffer) => { hash.update(chunk); receivedBytes += chunk.length; });
  const ended = once(socket, 'end');
  socket.end(payload);
  await ended;
  return { sent: sha256(payload), received: hash.digest('hex'), receivedBytes };
}
