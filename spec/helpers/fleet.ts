/**
 * @module spec/helpers/fleet
 * A fleet behind a balancer, with real parts: nginx as the backend (files to download, an
 * access log naming what its PROXY header said), HAProxy in TCP mode in front, and HTTPS
 * clients that can bind to an "original client" address. Both daemons run in the
 * foreground with every path inside the test's directory; their ports are found by binding
 * port 0 and closing it (they cannot listen on port 0 themselves), and a start that lost
 * its port to someone else is retried on another.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { findProgram } from './peers';

/** A port free on `host` right now. */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** Where readiness probes come from: a balancer passes it on in its PROXY headers, so tests can tell probes apart. */
export const PROBE_ADDRESS = '127.0.2.99';

/** Resolves once `host:port` accepts a TCP connection (the daemon is up), retrying while it refuses. */
export async function accepting(host: string, port: number, child: ChildProcess, backstopMs = 15_000): Promise<void> {
  const deadline = Date.now() + backstopMs;
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${child.spawnfile} exited before accepting on ${host}:${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port, localAddress: PROBE_ADDRESS }, () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`backstop: nothing accepts on ${host}:${port}`);
    // A refused connect answers at once: pace the retries (failure backstop above).
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
  stop(): Promise<void>;
}

function spawnDaemon(cmd: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => { text += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { text += c.toString(); });
  return { child, output: () => text };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const backstop = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(backstop);
}

/** Starts a daemon on a fresh port of `host`; tries another port when the first was taken meanwhile. */
async function onFreshPort(host: string, start: (port: number) => { child: ChildProcess; output: () => string }): Promise<Daemon> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort(host);
    const { child, output } = start(port);
    try {
      await accepting(host, port, child);
      return { child, port, output, stop: () => stopChild(child) };
    } catch (err) {
      await stopChild(child);
      if (attempt >= 3 || !/Address already in use|cannot bind|bind\(\)/i.test(output())) throw new Error(`${(err as Error).message}\n${output()}`);
    }
  }
}

/**
 * The daemon's output once it matches `re` (checked now and at each chunk it prints): a line
 * logged after the event the test awaited, such as HAProxy's log line of a finished request.
 */
export function outputMatching(daemon: Daemon, re: RegExp, backstopMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const streams = [daemon.child.stdout, daemon.child.stderr].filter((s) => s !== null);
    const check = () => {
      if (!re.test(daemon.output())) return;
      done();
      resolve(daemon.output());
    };
    // After the daemon's own 'data' listener (registered first) has appended the chunk.
    const onData = () => setImmediate(check);
    const done = () => {
      clearTimeout(timer);
      for (const s of streams) s.off('data', onData);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`backstop: no output matching ${re}:\n${daemon.output()}`));
    }, backstopMs);
    for (const s of streams) s.on('data', onData);
    check();
  });
}

export interface Nginx extends Daemon {
  /** The access log's lines: `remote_addr proxy_protocol_addr proxy_protocol_port "request" status bytes`. */
  accessLines(): string[];
}

/**
 * nginx serving `files` (name → bytes) on `host`; with `proxyProtocol` the listener expects a
 * PROXY header (v1 or v2) and the log names the address it carried.
 */
export async function startNginx(dir: string, host: string, files: Record<string, Buffer>, proxyProtocol: boolean): Promise<Nginx> {
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(www, name), bytes);
  const log = join(dir, 'access.log');
  const daemon = await onFreshPort(host, (port) => {
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, `
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 512; }
http {
  log_format fleet '$remote_addr $proxy_protocol_addr $proxy_protocol_port "$request" $status $body_bytes_sent';
  access_log ${log} fleet;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fastcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  keepalive_timeout 0;
  server {
    listen ${host}:${port}${proxyProtocol ? ' proxy_protocol' : ''};
    root ${www};
  }
}
`);
    return spawnDaemon(findProgram('nginx') ?? 'nginx', ['-c', conf, '-g', 'daemon off;', '-e', join(dir, 'error.log')]);
  });
  return {
    ...daemon,
    output: () => daemon.output() + (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''),
    accessLines: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') : []),
  };
}

/** HAProxy in the foreground on `host` with the configuration `body(port)` writes (global and defaults given). */
export async function startHaproxy(dir: string, host: string, body: (port: number) => string): Promise<Daemon> {
  return onFreshPort(host, (port) => {
    const conf = join(dir, `haproxy-${port}.cfg`);
    writeFileSync(conf, `
global
  log stdout format raw local0
  maxconn 2000
defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 60s
  timeout server 60s
${body(port)}
`);
    return spawnDaemon(findProgram('haproxy') ?? 'haproxy', ['-db', '-f', conf]);
  });
}

export interface Download {
  readonly status: number;
  readonly sha256: string;
  readonly bytes: number;
}

/** GET https://host:port/path, verifying the test CA's `localhost` certificate; optionally from `localAddress`. */
export function download(host: string, port: number, path: string, ca: string, localAddress?: string, servername = 'localhost'): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, ca, servername, localAddress, agent: false, timeout: 30_000 }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => { hash.update(c); bytes += c.length; });
      res.on('end', () => {
        if (!res.complete) reject(new Error(`truncated body after ${bytes} bytes`));
        else resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex'), bytes });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}
