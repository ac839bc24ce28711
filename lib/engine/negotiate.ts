/**
 * @module engine/negotiate
 * `protocol = smtp | pop3 | imap | connect` in client mode: before the TLS handshake, the
 * plain dialogue with the server, as stunnel 5.68 holds it, observed line by line. For the
 * mail protocols it asks the server to start TLS (STARTTLS, RFC 3207 / 2595); for connect it
 * asks an HTTP proxy for a tunnel to `protocolHost`:
 *
 *   smtp  greeting lines (`220-…`, then the last) passed to the client; `EHLO localhost`,
 *         the reply must end in `250 ` (else `Remote server is not RFC 1425 compliant`);
 *         `STARTTLS`, the reply must end in `220 ` (else `… not RFC 2487 compliant`).
 *   pop3  the greeting must start `+OK` (else `Unknown server welcome`) and is passed on;
 *         `STLS`, the answer must start `+OK` (else `Server does not support TLS`).
 *   imap  the greeting must start `* OK` (else `Unknown server welcome`); the client is told
 *         `* OK Connected.`; `stunnel STARTTLS`, the answer must start `stunnel OK` (else the
 *         client is told `* BYE stunnel: Server does not support TLS` and the connection closes).
 *   connect `CONNECT host:port HTTP/1.1`, `Host: host:port`, `Proxy-Authorization: basic …` with
 *         protocolUsername and protocolPassword, each protocolHeader, an empty line; the status
 *         must be 2xx (else `CONNECT request rejected`), the header lines up to the empty one are
 *         read. Without protocolHost: `protocolHost not specified`.
 *
 * Every line is logged at LOG7 as ` <- line` (read) or ` -> line` (written). The server's
 * EOF in the middle is `s_read: Unexpected socket close`.
 */
import type { Duplex } from 'node:stream';
import type { ProtocolSettings } from '../config/model';
import type { ClientProtocol } from '../config/options';
import type { Speaker } from '../tls/verify';
import type { CloseStatus } from './status';

/** Why the dialogue failed: the LOG3 line (null: logged already), and how the connection ends. */
export interface NegotiationFailure {
  readonly text: string | null;
  readonly status: CloseStatus;
}

/** A line longer than this is refused: a server dialogue line is a few hundred bytes. */
const MAX_LINE = 65536;

class Failed extends Error {
  constructor(readonly failure: NegotiationFailure) {
    super(failure.text ?? 'negotiation failed');
  }
}

/** Lines read from a plain stream while the dialogue runs; what follows the last one is put back. */
class LineReader {
  #buffered: Buffer = Buffer.alloc(0);
  #ended = false;
  #waiting: (() => void) | null = null;

  constructor(readonly stream: Duplex) {
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    this.#wake();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wake();
  };

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
  }

  /** The next line without its CR LF; fails at the server's EOF or on an overlong line. */
  async next(): Promise<string> {
    for (;;) {
      const newline = this.#buffered.indexOf(0x0a);
      if (newline >= 0) {
        const line = this.#buffered.subarray(0, newline).toString('latin1').replace(/\r$/, '');
        this.#buffered = this.#buffered.subarray(newline + 1);
        return line;
      }
      if (this.#buffered.length > MAX_LINE) throw new Failed({ text: 's_read: Line too long', status: 'reset' });
      if (this.#ended) throw new Failed({ text: 's_read: Unexpected socket close', status: 'reset' });
      await new Promise<void>((resolve) => { this.#waiting = resolve; });
    }
  }

  /** Stops reading; bytes after the last line (none from a well-behaved server) go back to the stream. */
  release(): void {
    this.stream.off('data', this.#onData);
    this.stream.off('end', this.#onEnd);
    this.stream.pause();
    if (this.#buffered.length > 0) this.stream.unshift(this.#buffered);
  }
}

/** One dialogue: the server's plain stream, the client's, and the tunnel's log. */
class Dialogue {
  readonly #reader: LineReader;

  constructor(readonly remote: Duplex, readonly local: Duplex, readonly log: Speaker, readonly settings: ProtocolSettings) {
    this.#reader = new LineReader(remote);
  }

  async read(): Promise<string> {
    const line = await this.#reader.next();
    if (this.log.wants(7)) this.log.say(7, ` <- ${line}`);
    return line;
  }

  #write(stream: Duplex, line: string): void {
    if (this.log.wants(7)) this.log.say(7, ` -> ${line}`);
    stream.write(`${line}\r\n`);
  }

  toServer(line: string): void {
    this.#write(this.remote, line);
  }

  toClient(line: string): void {
    this.#write(this.local, line);
  }

  /** Reads a reply whose continuation lines start with `more`; returns its last line. */
  async reply(more: string, passOn = false): Promise<string> {
    for (;;) {
      const line = await this.read();
      if (passOn) this.toClient(line);
      if (!startsWith(line, more)) return line;
    }
  }

  release(): void {
    this.#reader.release();
  }
}

function startsWith(line: string, prefix: string): boolean {
  return line.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
}

function fail(text: string | null, status: CloseStatus = 'reset'): never {
  throw new Failed({ text, status });
}

async function smtp(d: Dialogue): Promise<void> {
  await d.reply('220-', true);
  d.toServer('EHLO localhost');
  if (!startsWith(await d.reply('250-'), '250 ')) fail('Remote server is not RFC 1425 compliant');
  d.toServer('STARTTLS');
  if (!startsWith(await d.reply('220-'), '220 ')) fail('Remote server is not RFC 2487 compliant');
}

async function pop3(d: Dialogue): Promise<void> {
  const greeting = await d.read();
  if (!startsWith(greeting, '+OK')) fail('Unknown server welcome');
  d.toClient(greeting);
  d.toServer('STLS');
  if (!startsWith(await d.read(), '+OK')) fail('Server does not support TLS');
}

async function imap(d: Dialogue): Promise<void> {
  if (!startsWith(await d.read(), '* OK')) fail('Unknown server welcome');
  d.toClient('* OK Connected.');
  d.toServer('stunnel STARTTLS');
  if (!startsWith(await d.read(), 'stunnel OK')) {
    d.toClient('* BYE stunnel: Server does not support TLS');
    fail('Server does not support TLS', 'closed');
  }
}

async function connect(d: Dialogue): Promise<void> {
  const { host, username, password, headers } = d.settings;
  if (host === null) fail('protocolHost not specified');
  d.toServer(`CONNECT ${host} HTTP/1.1`);
  d.toServer(`Host: ${host}`);
  if (username !== null && password !== null) {
    d.toServer(`Proxy-Authorization: basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
  }
  for (const header of headers) d.toServer(header);
  d.toServer('');
  const accepted = /^HTTP\/1\.[01] 2/i.test(await d.read());
  // stunnel says so at once, then reads the proxy's header lines to their end.
  if (!accepted) d.log.say(3, 'CONNECT request rejected');
  while ((await d.read()) !== '');
  if (!accepted) fail(null);
}

const DIALOGUES: Readonly<Record<ClientProtocol, (d: Dialogue) => Promise<void>>> = { smtp, pop3, imap, connect };

/**
 * Runs `protocol`'s dialogue with the server (or proxy) on `remote` (plain), telling `local`
 * what its client should see. Resolves null when the TLS handshake may start on `remote`,
 * else why not.
 */
export async function negotiate(
  protocol: ClientProtocol, settings: ProtocolSettings, remote: Duplex, local: Duplex, log: Speaker,
): Promise<NegotiationFailure | null> {
  const dialogue = new Dialogue(remote, local, log, settings);
  try {
    await DIALOGUES[protocol](dialogue);
    return null;
  } catch (err) {
    if (err instanceof Failed) return err.failure;
    throw err;
  } finally {
    dialogue.release();
  }
}
