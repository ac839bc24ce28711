/**
 * @module spec/helpers/protocols
 * The peers of the protocol specs (`protocol = smtp | pop3 | imap | connect`): plain backends
 * that greet as a mail server does, scripted servers that answer line by line, Debian's
 * stunnel 5.68 and stunnel-ts daemons, all on 127.0.0.1 and stopped together; and a plain
 * client that reads a greeting, then sends bytes and checks what comes back.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { Running, runStunnelTs, tempDir, writeConf } from './daemon';
import { sha256 } from './config';
import { peerPath } from './peers';

/** The greeting line of each mail protocol's backend. */
export const GREETINGS: Readonly<Record<string, string>> = {
  smtp: '220 backend.example ESMTP',
  pop3: '+OK backend POP3',
  imap: '* OK backend IMAP',
};

/** What a scripted server does with a line: answer it, end the connection, or say nothing. */
/** Text to send, or one of the words `close` (hang up) and `silent` (never answer). */
export type ScriptedAnswer = string;

/** Everything one spec file starts; `stopAll()` in its after hook. */
export class ProtocolPeers {
  readonly dir: string;
  readonly #running: Running[] = [];
  readonly #servers: Server[] = [];

  constructor(prefix: string) {
    this.dir = tempDir(prefix);
  }

  track(running: Running): Running {
    this.#running.push(running);
    return running;
  }

  async stopAll(): Promise<void> {
    for (const r of this.#running) await r.stop();
    for (const s of this.#servers) s.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #listening(server: Server): Promise<number> {
    this.#servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as { port: number }).port;
  }

  /** A plain backend that greets as a mail server of `protocol` would, then echoes. */
  readonly greetingBackend = (protocol: string): Promise<number> => this.#listening(createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.write(`${GREETINGS[protocol]}\r\n`);
    s.pipe(s);
  }));

  /** A scripted plain server: sends `greeting`, then answers each line it reads with `answer(line)`. */
  readonly scriptedServer = (greeting: string, answer: (line: string) => ScriptedAnswer): Promise<number> =>
    this.#listening(createServer((s) => {
      s.on('error', () => undefined);
      if (greeting) s.write(greeting);
      let buffered = '';
      s.on('data', (chunk) => {
        buffered += chunk.toString('latin1');
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl).replace(/\r$/, '');
          buffered = buffered.slice(nl + 1);
          const reply = answer(line);
          if (reply === 'close') return void s.end();
          if (reply !== 'silent') s.write(reply);
        }
      });
    }));

  /** A plain server that answers every chunk it reads with `answer(chunk)` (binary protocols). */
  readonly chunkServer = (answer: (chunk: Buffer) => string | Buffer): Promise<number> =>
    this.#listening(createServer((s) => {
      s.on('error', () => undefined);
      s.on('data', (chunk: Buffer) => s.write(answer(chunk)));
    }));

  /** Debian's stunnel 5.68 on `body` (sections), in the foreground. */
  readonly stunnel4 = (name: string, body: string): Running => {
    const file = writeConf(this.dir, name, `foreground = yes\nsyslog = no\npid =\ndebug = 6\n${body}`);
    return this.track(new Running(spawn(peerPath('stunnel4'), [file], { stdio: ['ignore', 'ignore', 'pipe'] })));
  };

  /** stunnel-ts on `body` (sections) at debug 7; resolves with the daemon and its first accept port. */
  readonly stunnelTs = async (name: string, body: string): Promise<{ daemon: Running; port: number }> => {
    const file = writeConf(this.dir, `${name}.conf`, `foreground = yes\nsyslog = no\npid =\ndebug = 7\n${body}`);
    const daemon = this.track(runStunnelTs([file]));
    await daemon.waitFor(/Accepting new connections/);
    return { daemon, port: await daemon.port() };
  };
}

/** A plain client: waits for `lines` greeting lines, then sends `size` random bytes and half-closes; the greeting and the SHA-256 of both ways. */
export async function greetedExchange(port: number, lines: number, size: number): Promise<{ greeting: string[]; sent: string; received: string; receivedBytes: number }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let data = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => { data = Buffer.concat([data, chunk]); });
  const ended = once(socket, 'end');
  let greetingEnd = -1;
  const backstop = AbortSignal.timeout(10_000); // a server that never greets fails here, not at the file timeout
  while (greetingEnd < 0) {
    await once(socket, 'data', { signal: backstop });
    const breaks = [...data.toString('latin1').matchAll(/\r\n/g)];
    if (breaks.length >= lines) greetingEnd = breaks[lines - 1].index + 2;
  }
  const payload = randomBytes(size);
  socket.end(payload);
  await ended;
  return {
    greeting: data.subarray(0, greetingEnd).toString('latin1').split('\r\n').slice(0, -1),
    sent: sha256(payload),
    received: sha256(data.subarray(greetingEnd)),
    receivedBytes: data.length - greetingEnd,
  };
}
