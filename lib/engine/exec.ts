/**
 * @module engine/exec
 * `exec =` endpoints: a program per connection speaking on its stdin/stdout, started
 * with stunnel's environment (REMOTE_HOST, REMOTE_PORT, SSL_CLIENT_DN, SSL_CLIENT_I_DN).
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
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
  const stream = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
  child.on('error', (err) => stream.destroy(err));
  stream.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return stream;
}
