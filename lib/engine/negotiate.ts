/**
 * @module engine/negotiate
 * The protocols stunnel speaks before the TLS handshake, as stunnel 5.68 holds them, observed
 * line by line (and byte by byte for pgsql and ldap).
 *
 * Client mode, with the server: the mail and news protocols ask it to start TLS (STARTTLS,
 * RFC 3207 / 2595 / 4642), pgsql sends PostgreSQL's SSLRequest, ldap the StartTLS extended
 * operation (RFC 4511), and connect asks an HTTP proxy for a tunnel to `protocolHost`:
 *
 *   smtp  greeting lines (`220-…`, then the last) passed to the client; `EHLO localhost`,
 *         the reply must end in `250 ` (else `Remote server is not RFC 1425 compliant`);
 *         `STARTTLS`, the reply must end in `220 ` (else `… not RFC 2487 compliant`).
 *   pop3  the greeting must start `+OK` (else `Unknown server welcome`) and is passed on;
 *         `STLS`, the answer must start `+OK` (else `Server does not support TLS`).
 *   imap  the greeting must start `* OK` (else `Unknown server welcome`); the client is told
 *         `* OK Connected.`; `stunnel STARTTLS`, the answer must start `stunnel OK` (else the
 *         client is told `* BYE stunnel: Server does not support TLS` and the connection closes).
 *   nntp  a `200`/`201` greeting passed on; `STARTTLS` must get `382`.
 *   pgsql the SSLRequest must get `S` (else `PostgreSQL server rejected TLS`).
 *   ldap  the StartTLS request; a success ExtendedResponse for message id 1.
 *   connect `CONNECT host:port HTTP/1.1`, `Host: host:port`, `Proxy-Authorization: basic …` with
 *         protocolUsername and protocolPassword, each protocolHeader, an empty line; the status
 *         must be 2xx (else `CONNECT request rejected`), the header lines up to the empty one are
 *         read. Without protocolHost: `protocolHost not specified`.
 *
 * Server mode, with the plain client: smtp, pop3 and imap on behalf of the backend, whose
 * greeting is read first (smtpServer, pop3Server, imapServer); pgsql answers the SSLRequest
 * before any backend (pgsqlServer).
 *
 * Every line is logged at LOG7 as ` <- line` (read) or ` -> line` (written). The peer's EOF in
 * the middle is `s_read: Unexpected socket close`.
 */
import type { Duplex } from 'node:stream';
import type { ProtocolSettings } from '../config/model';
import type { ClientProtocol, ServerProtocol } from '../config/options';
import type { Speaker } from '../tls/verify';
import { exactly, PullReader } from './reader';
import type { CloseStatus } from './status';

/** Why the dialogue failed: the LOG3 line (null: logged already), and how the connection ends. */
export interface NegotiationFailure {
  readonly text: string | null;
  readonly status: CloseStatus;
}

/** A line longer than this is refused: a server dialogue line is a few hundred bytes. */
const MAX_LINE = 65536;

export class Failed extends Error {
  constructor(readonly failure: NegotiationFailure) {
    super(failure.text ?? 'negotiation failed');
  }
}

/** A line's length with its LF, -1 while it is incomplete. */
function lineLength(buffered: Buffer): number {
  const newline = buffered.indexOf(0x0a);
  if (newline < 0 && buffered.length > MAX_LINE) throw new Failed({ text: 's_read: Line too long', status: 'reset' });
  return newline < 0 ? -1 : newline + 1;
}

/** The peer's EOF in the middle of a dialogue (stunnel's words). */
export function unexpectedClose(): Failed {
  return new Failed({ text: 's_read: Unexpected socket close', status: 'reset' });
}

/**
 * One dialogue: the mail server's (or proxy's) plain stream, the client's, and the tunnel's
 * log. In client mode the server is the remote TLS server, spoken to before TLS; in server
 * mode it is the plain backend, and the client is spoken to before TLS.
 */
class Dialogue {
  readonly #readers = new Map<Duplex, PullReader>();

  constructor(readonly server: Duplex, readonly client: Duplex, readonly log: Speaker, readonly settings: ProtocolSettings) {}

  #reader(stream: Duplex): PullReader {
    let reader = this.#readers.get(stream);
    if (!reader) this.#readers.set(stream, reader = new PullReader(stream));
    return reader;
  }

  /** The next line from `stream`, without its CR LF. */
  async #readFrom(stream: Duplex): Promise<string> {
    const bytes = await this.#reader(stream).pull(lineLength, unexpectedClose);
    const line = bytes.subarray(0, bytes.length - 1).toString('latin1').replace(/\r$/, '');
    if (this.log.wants(7)) this.log.say(7, ` <- ${line}`);
    return line;
  }

  /** The server's next `n` bytes (a binary answer). */
  serverBytes(n: number): Promise<Buffer> {
    return this.#reader(this.server).pull(exactly(n), unexpectedClose);
  }

  /** The server's next line. */
  read(): Promise<string> {
    return this.#readFrom(this.server);
  }

  /** The client's next line. */
  readClient(): Promise<string> {
    return this.#readFrom(this.client);
  }

  #write(stream: Duplex, line: string): void {
    if (this.log.wants(7)) this.log.say(7, ` -> ${line}`);
    stream.write(`${line}\r\n`);
  }

  toServer(line: string): void {
    this.#write(this.server, line);
  }

  toClient(line: string): void {
    this.#write(this.client, line);
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
    for (const reader of this.#readers.values()) reader.release();
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

/** PostgreSQL's SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** pgsql client mode: SSLRequest; the server answers `S` to start TLS (else `PostgreSQL server rejected TLS`). */
async function pgsql(d: Dialogue): Promise<void> {
  d.server.write(SSL_REQUEST);
  if ((await d.serverBytes(1))[0] !== 0x53) fail('PostgreSQL server rejected TLS');
}

/** nntp client mode: a `200`/`201` greeting passed on (else `Unknown server welcome`); `STARTTLS` must get `382`. */
async function nntp(d: Dialogue): Promise<void> {
  const greeting = await d.read();
  if (!startsWith(greeting, '200 ') && !startsWith(greeting, '201 ')) fail('Unknown server welcome');
  d.toClient(greeting);
  d.toServer('STARTTLS');
  if (!startsWith(await d.read(), '382')) fail('Server does not support TLS');
}

/** LDAP's StartTLS ExtendedRequest, message id 1 (RFC 4511 §4.14): requestName 1.3.6.1.4.1.1466.20037. */
const LDAP_START_TLS = Buffer.concat([
  Buffer.from([0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16]), Buffer.from('1.3.6.1.4.1.1466.20037', 'latin1'),
]);

/** A BER length at `at` of `bytes`: [length, where the content starts]; null when malformed. */
function berLength(bytes: Buffer, at: number): [number, number] | null {
  const first = bytes[at];
  if (first === undefined) return null;
  if (first < 0x80) return [first, at + 1];
  const count = first & 0x7f;
  if (count === 0 || count > 3 || at + 1 + count > bytes.length) return null;
  return [bytes.subarray(at + 1, at + 1 + count).readUIntBE(0, count), at + 1 + count];
}

/**
 * ldap client mode: the StartTLS request; the response must be a SEQUENCE for message id 1
 * holding an ExtendedResponse whose result code is 0 (success).
 */
async function ldap(d: Dialogue): Promise<void> {
  const say7 = (text: string) => { if (d.log.wants(7)) d.log.say(7, text); };
  say7('Sending LDAP Start TLS request');
  d.server.write(LDAP_START_TLS);
  say7('Receiving LDAP response tag');
  if ((await d.serverBytes(1))[0] !== 0x30) fail('LDAP response is not UNIVERSAL SEQUENCE');
  say7('Receiving LDAP response length');
  let header = await d.serverBytes(1);
  if (header[0] >= 0x80) header = Buffer.concat([header, await d.serverBytes(header[0] & 0x7f)]);
  const length = berLength(header, 0);
  if (length === null || length[0] > MAX_LINE) fail('LDAP response has an invalid length');
  say7(`Receiving LDAP response value (${length[0]} byte(s))`);
  const value = await d.serverBytes(length[0]);
  say7('Decoding LDAP response value');
  const id = value[0] === 0x02 ? berLength(value, 1) : null;
  if (id === null || id[0] !== 1 || value[id[1]] !== 1) fail('LDAP response has an unexpected message ID value');
  const at = id[1] + id[0];
  const response = value[at] === 0x78 ? berLength(value, at + 1) : null;
  if (response === null) fail('LDAP response is not an ExtendedResponse');
  const result = value[response[1]] === 0x0a ? berLength(value, response[1] + 1) : null;
  if (result === null || result[0] !== 1) fail('LDAP response has no result code');
  const code = value[result[1]];
  if (code !== 0) fail(`LDAP response has indicated an error (${code})`);
  if (d.log.wants(6)) d.log.say(6, 'LDAP Start TLS successfully negotiated');
}

const CLIENT_DIALOGUES: Readonly<Record<ClientProtocol, (d: Dialogue) => Promise<void>>> = {
  smtp, pop3, imap, connect, pgsql, nntp, ldap,
};

/**
 * pgsql server mode, before the handshake and before any backend: the client's first 8 bytes
 * must be the SSLRequest (else `PostgreSQL client did not request TLS, rejecting`), answered `S`.
 */
export async function pgsqlServer(client: Duplex, log: Speaker): Promise<NegotiationFailure | null> {
  if (log.wants(7)) log.say(7, 'Started server-side psql protocol negotiation');
  const reader = new PullReader(client);
  return settle(async () => {
    if (!(await reader.pull(exactly(8), unexpectedClose)).equals(SSL_REQUEST)) fail('PostgreSQL client did not request TLS, rejecting');
    if (log.wants(7)) log.say(7, 'SSLRequest received');
    client.write('S');
  }, () => reader.release());
}

/**
 * SMTP server mode: the backend's greeting goes to the client with ` stunnel` (and ` for`)
 * after its host name (`220 mx stunnel for ESMTP …`, else `Unknown server welcome`); the
 * client's `EHLO name` is answered `250-host` `250 STARTTLS` for the backend (else `Unknown
 * client EHLO`); its `STARTTLS` (else `STARTTLS expected`) with `220 Go ahead`.
 */
async function smtpServer(d: Dialogue): Promise<void> {
  const first = await d.read();
  const greeting = /^220([ -])(\S*)(?: (.*))?$/.exec(first);
  if (!greeting) fail('Unknown server welcome');
  const [, separator, host, rest] = greeting;
  d.toClient(`220${separator}${host} stunnel${rest === undefined ? '' : ` for ${rest}`}`);
  if (separator === '-') await d.reply('220-', true);
  if (!startsWith(await d.readClient(), 'EHLO ')) fail('Unknown client EHLO');
  d.toClient(`250-${host}`);
  d.toClient('250 STARTTLS');
  if (!startsWith(await d.readClient(), 'STARTTLS')) fail('STARTTLS expected');
  d.toClient('220 Go ahead');
}

/**
 * POP3 server mode: the backend's greeting goes to the client with ` + stunnel`; `CAPA` is
 * answered with STLS only; the client's `STLS` (else `Client does not want TLS`) with
 * `+OK Stunnel starts TLS negotiation`.
 */
async function pop3Server(d: Dialogue): Promise<void> {
  d.toClient(`${await d.read()} + stunnel`);
  for (;;) {
    const command = await d.readClient();
    if (startsWith(command, 'CAPA')) {
      d.toClient('+OK Stunnel capability list follows');
      d.toClient('STLS');
      d.toClient('.');
    } else if (startsWith(command, 'STLS')) {
      d.toClient('+OK Stunnel starts TLS negotiation');
      return;
    } else {
      fail('Client does not want TLS');
    }
  }
}

/**
 * IMAP server mode: the backend's greeting (`* OK`, else `Unknown server welcome`) goes to the
 * client with its CAPABILITY hidden as KAPABILITY and ` (stunnel)` added; a client's
 * `TAG CAPABILITY` goes to the backend, whose `* CAPABILITY` line gets ` STARTTLS` added;
 * `TAG STARTTLS` is answered `TAG OK Begin TLS negotiation now`. Any other command is refused
 * (`* BYE`, `TAG BAD`, `Unexpected client command X`) and the backend is logged out.
 */
async function imapServer(d: Dialogue): Promise<void> {
  const greeting = await d.read();
  if (!startsWith(greeting, '* OK')) fail('Unknown server welcome');
  d.toClient(`${greeting.replace('CAPABILITY', 'KAPABILITY')} (stunnel)`);
  for (;;) {
    const line = await d.readClient();
    const [tag = '', command = ''] = line.split(' ');
    if (/^STARTTLS$/i.test(command)) {
      d.toClient(`${tag} OK Begin TLS negotiation now`);
      return;
    }
    if (!/^CAPABILITY$/i.test(command)) {
      d.toClient('* BYE stunnel: unexpected command');
      d.toClient(`${tag} BAD ${command} unexpected`);
      d.log.say(3, `Unexpected client command ${command}`);
      await logOut(d);
      fail(null, 'closed');
    }
    d.toServer(line);
    let reply = await d.read();
    for (; !startsWith(reply, `${tag} `); reply = await d.read()) {
      if (!startsWith(reply, '* ')) {
        d.toClient('* BYE unexpected server response');
        d.log.say(3, `Unexpected server response: ${reply}`);
        await logOut(d);
        fail(null, 'closed');
      }
      d.toClient(startsWith(reply, '* CAPABILITY') ? `${reply} STARTTLS` : reply);
    }
    d.toClient(reply);
  }
}

/** Ends the backend's IMAP session (`stunnel LOGOUT`), reading its answer while it gives one. */
async function logOut(d: Dialogue): Promise<void> {
  d.toServer('stunnel LOGOUT');
  try {
    while (!startsWith(await d.read(), 'stunnel '));
  } catch {
    // The backend hung up first: nothing more to read.
  }
}

const SERVER_DIALOGUES: Readonly<Record<ServerProtocol, (d: Dialogue) => Promise<void>>> = {
  smtp: smtpServer, pop3: pop3Server, imap: imapServer,
};

/**
 * Runs `protocol`'s dialogue with the server (or proxy) on `remote` (plain), telling `local`
 * what its client should see. Resolves null when the TLS handshake may start on `remote`,
 * else why not.
 */
export async function negotiate(
  protocol: ClientProtocol, settings: ProtocolSettings, remote: Duplex, local: Duplex, log: Speaker,
): Promise<NegotiationFailure | null> {
  return converse(CLIENT_DIALOGUES[protocol], new Dialogue(remote, local, log, settings));
}

/**
 * Server mode: runs `protocol`'s dialogue with the plain `client` before the TLS handshake,
 * for the `backend` already connected (its greeting is read). Resolves null when the TLS
 * handshake may start on `client`, else why not.
 */
export async function negotiateAsServer(
  protocol: ServerProtocol, settings: ProtocolSettings, backend: Duplex, client: Duplex, log: Speaker,
): Promise<NegotiationFailure | null> {
  return converse(SERVER_DIALOGUES[protocol], new Dialogue(backend, client, log, settings));
}

function converse(run: (d: Dialogue) => Promise<void>, dialogue: Dialogue): Promise<NegotiationFailure | null> {
  return settle(() => run(dialogue), () => dialogue.release());
}

/** Runs a dialogue: null when it went through, the failure it threw otherwise; `release` either way. */
async function settle(run: () => Promise<void>, release: () => void): Promise<NegotiationFailure | null> {
  try {
    await run();
    return null;
  } catch (err) {
    if (err instanceof Failed) return err.failure;
    throw err;
  } finally {
    release();
  }
}
