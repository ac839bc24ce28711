/**
 * @module engine/exec
 * `exec =` endpoints: a program per connection speaking on its stdin/stdout, started
 * with stunnel's environment (REMOTE_HOST, REMOTE_PORT, SSL_CLIENT_DN, SSL_CLIENT_I_DN).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Duplex, type Readable, type Writable } from 'node:stream';
import type { ServiceConfig } from '../config/model';
import type { Speaker } from '../tls/verify';

export interface ExecPeer {
  readonly host: string;
  readonly port: number;
  /** Subject and issuer of the client certificate, when one was verified. */
  readonly subject?: string;
  readonly issuer?: string;
}

/** Starts the service's program; its stdin/stdout become one Duplex stream. */
export function startExec(service: ServiceConfig, peer: ExecPeer, log: Speaker): Duplex {
  const program = service.exec!;
  const args = service.execArgs ?? [program];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (peer.host) {
    env.REMOTE_HOST = peer.host;
    env.REMOTE_PORT = String(peer.port);
  }
  if (peer.subject) env.SSL_CLIENT_DN = peer.subject;
  if (peer.issuer) env.SSL_CLIENT_I_DN = peer.issuer;
  const child = spawn(program, args.slice(1), { argv0: args[0], env, stdio: ['pipe', 'pipe', 'inherit'] });
  log.say(6, `Local mode child started (PID=${child.pid})`);
  child.on('exit', (code, signal) => {
    log.say(6, signal ? `Child process ${child.pid} terminated on ${signal}` : `Child process ${child.pid} finished with code ${code}`);
  });
  const stream = new ChildStdio(child);
  child.on('error', (err) => stream.destroy(err));
  return stream;
}

/** A program started with its stdin and stdout piped (its stderr is ours). */
type Piped = ChildProcessByStdio<Writable, Readable, null>;

/**
 * A program's stdout (read side) and stdin (write side) as one Duplex. A program may exit
 * before reading what was sent to it: writes after that fail with EPIPE, which the relay
 * treats as a peer that went away. Destroying the stream ends the program.
 */
class ChildStdio extends Duplex {
  readonly #child: Piped;

  constructor(child: Piped) {
    super({ allowHalfOpen: true });
    this.#child = child;
    const out = child.stdout;
    out.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) out.pause();
    });
    out.on('end', () => this.push(null));
    out.on('error', (err) => this.destroy(err));
    out.pause();
    child.stdin.on('error', () => undefined); // surfaced through the write callbacks
  }

  override _read(): void {
    this.#child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const stdin = this.#child.stdin;
    if (stdin.destroyed || stdin.writableEnded) return done(brokenPipe());
    stdin.write(chunk, (err) => done(err ? brokenPipe() : null));
  }

  override _final(done: (err?: Error | null) => void): void {
    const stdin = this.#child.stdin;
    if (stdin.destroyed || stdin.writableEnded) return done();
    stdin.end(() => done());
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    const child = this.#child;
    child.stdin?.destroy();
    child.stdout?.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    done(err);
  }
}

function brokenPipe(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('write EPIPE');
  err.code = 'EPIPE';
  err.errno = -32;
  return err;
}
