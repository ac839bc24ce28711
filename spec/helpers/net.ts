/**
 * @module spec/helpers/net
 * Network fixtures for end-to-end reliability tests against the real binary: a daemon
 * started from service sections, backends that hash what they receive, clients that
 * stream random bytes and hash what comes back, and a way to watch how a socket ends.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { runStunnelTs, tempDir, writeConf, type Running } from './daemon';
import { track } from './processes';
import { pki } from './pki';

/** Global lines every test daemon gets: foreground, stderr only, no pid file. */
export const TEST_GLOBALS = 'foreground = yes\nsyslog = no\npid =\n';

/** Starts the binary on `body` (global options and sections) and waits until it accepts. */
export async function startDaemon(body: string): Promise<{ daemon: Running; dir: string }> {
  const dir = tempDir('stunnel-ts-rel-');
  const file = writeConf(dir, 'stunnel.conf', TEST_GLOBALS + body);
  const daemon = runStunnelTs([file]);
  await daemon.waitFor(/Accepting new connections|Configuration successful/);
  return { daemon, dir };
}

/** A server section line block with the test PKI. */
export function serverSection(name: string, connectPort: number, pkiFiles: { serverCert: string; serverKey: string }, extra = ''): string {
  return `[${name}]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${connectPort}\ncert = ${pkiFiles.serverCert}\nkey = ${pkiFiles.serverKey}\n${extra}`;
}

export interface Backend {
  readonly server: Server;
  readonly port: number;
  /** Live accepted sockets. */
  readonly sockets: Set<Socket>;
  /** SHA-256 of everything each finished connection received. */
  readonly receivedHashes: Set<string>;
  /** Resolves with the next accepted socket. */
  nextConnection(): Promise<Socket>;
  close(): Promise<void>;
}

/**
 * A TCP backend on 127.0.0.1:0. `onSocket` decides what it does with each
 * connection; by default it echoes and half-closes when the peer does.
 * Every byte received is hashed; the hash is recorded at the peer's EOF.
 */
export async function backend(onSocket: (socket: Socket) => void = (s) => s.pipe(s)): Promise<Backend> {
  const sockets = new Set<Socket>();
  const receivedHashes = new Set<string>();
  let waiting: Array<(s: Socket) => void> = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    const hash = createHash('sha256');
    socket.on('data', (chunk: Buffer) => hash.update(chunk));
    socket.on('end', () => receivedHashes.add(hash.digest('hex')));
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
    const w = waiting;
    waiting = [];
    w.forEach((resolve) => resolve(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server, sockets, receivedHashes,
    port: (server.address() as { port: number }).port,
    nextConnection: () => new Promise((resolve) => waiting.push(resolve)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** How a socket ended, as its user sees it. */
export interface Ending {
  /** 'end' = orderly EOF; 'reset'/'error' = an error event (code says which); 'close' = closed without EOF or error. */
  readonly how: 'end' | 'error' | 'close';
  readonly code: string | null;
  readonly ms: number;
}

/**
 * Waits until the socket has closed or received EOF; rejects after `backstopMs` (a hang).
 * Puts the socket in flowing mode (EOF is only seen once data is read): attach your
 * own 'data' listener first if you want the bytes.
 */
export function ending(socket: Socket | TLSSocket, backstopMs = 10_000): Promise<Ending> {
  const started = Date.now();
  let how: Ending['how'] = 'close';
  let code: string | null = null;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`backstop: socket still open after ${backstopMs} ms`)), backstopMs);
    const done = () => { clearTimeout(timer); resolve({ how, code, ms: Date.now() - started }); };
    socket.on('error', (err: NodeJS.ErrnoException) => { how = 'error'; code = err.code ?? err.message; done(); });
    socket.on('end', () => { if (how === 'close') how = 'end'; done(); });
    socket.on('data', () => undefined);
    if (socket.destroyed) return done();
    socket.once('close', done);
  });
}

/** Options for `tlsClient` that verify the daemon against the test CA as `localhost`. */
export function verifiedByTestCa(): ConnectionOptions {
  return { ca: pki().ca.certPem, servername: 'localhost', rejectUnauthorized: true, allowHalfOpen: false } as ConnectionOptions;
}

/** A TLS client to the daemon (no verification unless `options` ask: these tests are about the transport). */
export async function tlsClient(port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, allowHalfOpen: true, ...options } as ConnectionOptions);
  await once(socket, 'secureConnect');
  return socket;
}

/**
 * A TLS client over a TCP socket the test can reset: `reset()` sends a TCP RST
 * (SO_LINGER 0 through the handle, as net.Socket.resetAndDestroy does) under the TLS layer.
 */
export async function resettableTlsClient(port: number): Promise<{ tls: TLSSocket; reset: () => void }> {
  const raw = await tcpClient(port);
  const tls = tlsConnect({ socket: raw, rejectUnauthorized: false });
  await once(tls, 'secureConnect');
  const reset = () => {
    const handle = (raw as unknown as { _handle?: { reset?: (done: () => void) => number } | null })._handle;
    if (handle?.reset?.(() => tls.destroy()) !== 0) tls.destroy();
  };
  return { tls, reset };
}

/** A plain TCP connection, resolved once connected. */
export async function tcpClient(port: number): Promise<Socket> {
  const socket = tcpConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

export interface TransferResult {
  readonly sent: string;
  readonly received: string;
  readonly sentBytes: number;
  readonly receivedBytes: number;
  /** Everything received (only when `keep` was asked for). */
  readonly data: Buffer | null;
  /** The payload that was sent (only when `keep` was asked for). */
  readonly payload: Buffer | null;
}

/**
 * Streams `size` random bytes in 64 KiB chunks (respecting backpressure), half-closes,
 * reads to EOF. Rejects on a socket error or when the stream closes without EOF.
 */
export async function transfer(socket: Socket | TLSSocket, size: number, keep = false): Promise<TransferResult> {
  const payload = randomBytes(size);
  const sentHash = createHash('sha256').update(payload).digest('hex');
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let receivedBytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    receivedBytes += chunk.length;
    if (keep) chunks.push(chunk);
  });
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('end', resolve);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed without EOF after ${receivedBytes} of ${size} bytes`)));
  });
  ended.catch(() => undefined);
  for (let at = 0; at < size && !socket.destroyed; at += 65536) {
    if (!socket.write(payload.subarray(at, at + 65536))) await drained(socket);
  }
  socket.end();
  await ended;
  return {
    sent: sentHash, received: hash.digest('hex'), sentBytes: size, receivedBytes,
    data: keep ? Buffer.concat(chunks) : null, payload: keep ? payload : null,
  };
}

/** Resolves when the socket can take more data or has closed; leaves no listener behind. */
function drained(socket: Socket | TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { socket.off('drain', done); socket.off('close', done); resolve(); };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** One echo round trip over a fresh TLS connection: resolves true when `size` bytes came back intact. */
export async function healthyRoundTrip(port: number, size = 65536): Promise<boolean> {
  const socket = await tlsClient(port);
  const r = await transfer(socket, size);
  socket.destroy();
  return r.sent === r.received && r.receivedBytes === size;
}

/** The first ClientHello a Node TLS client sends (captured on a plain server). */
export async function captureClientHello(options: ConnectionOptions = {}): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const got = once(server, 'connection').then(async (args: unknown[]) => {
    const socket = args[0] as Socket;
    const [data] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    return data;
  });
  const client = tlsConnect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, rejectUnauthorized: false, ...options });
  client.on('error', () => undefined);
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

/** Lines matching `re` of a foreground daemon's output, or of a log file (given by its path). */
export function linesMatching(source: Running | string, re: RegExp): string[] {
  const lines = typeof source === 'string' ? readFileSync(source, 'utf8').split('\n') : source.lines;
  return lines.filter((l) => re.test(l));
}

/**
 * Runs `check` now and after each chunk the daemon prints, until it returns true;
 * calls `onBackstop` instead if that has not happened after `backstopMs`.
 */
function watchOutput(daemon: Running, check: () => boolean, backstopMs: number, onBackstop: () => void): void {
  const streams = [daemon.child.stderr, daemon.child.stdout].filter((s) => s !== null);
  const stop = () => {
    clearTimeout(timer);
    for (const s of streams) s.off('data', onData);
  };
  const run = () => { if (check()) stop(); };
  const onData = () => setImmediate(run);
  const timer = setTimeout(() => { stop(); onBackstop(); }, backstopMs); // backstop only
  for (const s of streams) s.on('data', onData);
  run();
}

/** The first line matching `re` printed after this call (earlier lines do not count). */
export function nextLine(daemon: Running, re: RegExp, backstopMs = 10_000): Promise<string> {
  const from = daemon.lines.length;
  return new Promise((resolve, reject) => {
    watchOutput(daemon, () => {
      const hit = daemon.lines.slice(from).find((l) => re.test(l));
      if (hit !== undefined) resolve(hit);
      return hit !== undefined;
    }, backstopMs, () => reject(new Error(`backstop: no new line matching ${re}`)));
  });
}

/** A TLS echo conversation opened and proven live: `prime` bytes already went through and back. */
export interface PrimedTransfer {
  readonly socket: TLSSocket;
  readonly payload: Buffer;
  /** Sends the rest, half-closes and resolves with everything received, however the connection ended. */
  finish(): Promise<{ data: Buffer; how: 'end' | 'error' | 'close' }>;
}

/** Opens a TLS connection through an echo tunnel and sends the first `prime` bytes of `size`. */
export async function primedTransfer(port: number, size: number, prime = 65536): Promise<PrimedTransfer> {
  const socket = await tlsClient(port);
  const payload = randomBytes(size);
  const chunks: Buffer[] = [];
  let got = 0;
  let how: 'end' | 'error' | 'close' | null = null;
  let onSettled: (() => void) | null = null;
  let onGot: (() => void) | null = null;
  socket.on('data', (c: Buffer) => { chunks.push(c); got += c.length; onGot?.(); });
  const settle = (h: 'end' | 'error' | 'close') => { how ??= h; onSettled?.(); };
  socket.on('end', () => settle('end'));
  socket.on('error', () => settle('error'));
  socket.on('close', () => settle('close'));
  await new Promise<void>((resolve) => {
    onGot = () => { if (got >= prime) resolve(); };
    socket.write(payload.subarray(0, prime));
  });
  onGot = null;
  return {
    socket, payload,
    finish: async () => {
      for (let at = prime; at < size && !socket.destroyed && how === null; at += 65536) {
        if (!socket.write(payload.subarray(at, at + 65536))) await drained(socket);
      }
      if (!socket.destroyed) socket.end();
      if (how === null) await new Promise<void>((resolve) => { onSettled = resolve; });
      return { data: Buffer.concat(chunks), how: how! };
    },
  };
}

/** One server section `[name]` in a daemon of its own, in front of an echo backend. */
export interface EchoTunnel {
  readonly daemon: Running;
  readonly port: number;
  readonly echo: Backend;
  /** Stops the daemon and the backend, removes the temp dir. */
  stop(): Promise<void>;
}

export async function echoTunnel(globals: string, sectionExtra = '', name = 'tls'): Promise<EchoTunnel> {
  const echo = await backend();
  const { daemon, dir } = await startDaemon(`${globals}\n${serverSection(name, echo.port, pki(), sectionExtra)}`);
  return {
    daemon, echo, port: await daemon.port(0),
    stop: async () => {
      await daemon.stop();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** How a program run to its end ended: `out` is stdout and stderr interleaved; `hung` when the backstop killed it. */
export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly out: string;
  readonly hung: boolean;
}

/**
 * Runs a program to its end with stdin closed (`env` added to this process's); SIGKILLed after
 * the backstop (`hung`). A program that cannot be started ends with code null and the reason in `stderr`.
 */
export function runToExit(cmd: string, args: readonly string[], backstopMs = 20_000, env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return new Promise((resolve) => {
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
    let stdout = '';
    let stderr = '';
    let out = '';
    let hung = false;
    child.stdout.on('data', (c) => { stdout += c; out += c; });
    child.stderr.on('data', (c) => { stderr += c; out += c; });
    const timer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, backstopMs); // backstop: a hang is a failure
    const done = (code: number | null) => { clearTimeout(timer); resolve({ code, stdout, stderr, out, hung }); };
    child.on('error', (err) => { stderr += err.message; out += err.message; done(null); });
    child.on('close', done);
  });
}

/** Resolves with the number of lines matching `re` once there are at least `atLeast` (or at the backstop). */
export function lineCount(daemon: Running, re: RegExp, atLeast: number, backstopMs = 5000): Promise<number> {
  const count = () => daemon.lines.filter((l) => re.test(l)).length;
  return new Promise((resolve) => {
    watchOutput(daemon, () => {
      const n = count();
      if (n >= atLeast) resolve(n);
      return n >= atLeast;
    }, backstopMs, () => resolve(count()));
  });
}

/**
 * Runs a program with stdin a pipe closed at once (`openssl s_client -ign_eof` then reads until
 * the server closes; with /dev/null it may stop early): exit code, stdout+stderr, and whether
 * the backstop killed it (`hung`).
 */
export function runClosedStdin(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}, backstopMs = 120_000): Promise<{ code: number | null; out: string; hung: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd, env: { ...process.env, ...options.env } });
    let out = '';
    let hung = false;
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    child.stdin.end();
    const timer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, backstopMs); // backstop only
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, hung }); });
  });
}
