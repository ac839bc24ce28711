/**
 * @module tls/passphrase
 * Passphrases of encrypted private keys (PEM, or PKCS#12 with a password), as stunnel
 * handles them: asked on the terminal (`Enter FILE pass phrase:`, typed without echo) or,
 * with no terminal, read as a line from stdin; three tries, `Wrong passphrase: retrying`
 * between them; kept for reloads. A daemon asks before it detaches and hands what it was
 * told to the process that serves; a process with no one to ask fails with OpenSSL's
 * `problems getting password`.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ContextFileError } from './files';

/** Asks for one passphrase with this prompt; null when there is nobody to ask (or stdin ended). */
export type PassphraseAsker = (prompt: string) => string | null;

/** How many times a passphrase is asked for one key before the start fails. */
const TRIES = 3;

/** A PEM private key that needs a passphrase (PKCS#8 encrypted, or the older `Proc-Type: 4,ENCRYPTED`). */
export function isEncryptedPem(pem: Buffer): boolean {
  const text = pem.toString('latin1');
  return text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(text);
}

function opensWithPem(pem: Buffer, passphrase: string): boolean {
  try {
    createPrivateKey({ key: pem, format: 'pem', passphrase });
    return true;
  } catch {
    return false;
  }
}

function opensWithPkcs12(pfx: Buffer, passphrase: string): boolean {
  try {
    createSecureContext({ pfx, passphrase });
    return true;
  } catch {
    return false;
  }
}

/** The passphrases known so far, by key file, and how to ask for more. */
export class PassphraseBook {
  readonly #known = new Map<string, string>();
  /** The last one that worked: stunnel offers it for the next key before asking. */
  #last: string | null = null;

  /** `ask`: null in a process that must not ask (a detached daemon, a worker). */
  constructor(readonly ask: PassphraseAsker | null, known: Iterable<readonly [string, string]> = []) {
    this.learn(known);
  }

  /** Passphrases another process was told (the primary, the daemon's parent). */
  learn(known: Iterable<readonly [string, string]>): void {
    for (const [file, passphrase] of known) this.#remember(file, passphrase);
  }

  /** What the book holds, to hand to another process (the daemon child, a worker). */
  entries(): Array<[string, string]> {
    return [...this.#known];
  }

  /** The passphrase of an encrypted PEM key. `warn` gets `Wrong passphrase: retrying`. Throws ContextFileError. */
  forPem(file: string, pem: Buffer, warn: (text: string) => void): string {
    return this.#unlock(file, (p) => opensWithPem(pem, p), warn, 'SSL_CTX_use_PrivateKey_file');
  }

  /** The password of a PKCS#12 file: '' when it has none. Throws ContextFileError. */
  forPkcs12(file: string, pfx: Buffer, warn: (text: string) => void): string {
    if (opensWithPkcs12(pfx, '')) return '';
    return this.#unlock(file, (p) => opensWithPkcs12(pfx, p), warn, 'PKCS12_parse');
  }

  #unlock(file: string, opens: (passphrase: string) => boolean, warn: (text: string) => void, call: string): string {
    for (const candidate of [this.#known.get(file), this.#last]) {
      if (candidate !== undefined && candidate !== null && opens(candidate)) return this.#remember(file, candidate);
    }
    for (let attempt = 1; attempt <= TRIES; attempt++) {
      const given = this.ask?.(`Enter ${file} pass phrase:`) ?? null;
      if (given === null) {
        throw new ContextFileError(`${call}: ${file}: error:0480006D:PEM routines::problems getting password`);
      }
      if (opens(given)) return this.#remember(file, given);
      if (attempt < TRIES) warn('Wrong passphrase: retrying');
    }
    throw new ContextFileError(`${call}: ${file}: error:1C800064:Provider routines::bad decrypt`);
  }

  #remember(file: string, passphrase: string): string {
    this.#known.set(file, passphrase);
    this.#last = passphrase;
    return passphrase;
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** Reads one line from `fd` (without its newline); null at end of input before any byte. */
function readLine(fd: number): string | null {
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, one, 0, 1, null);
    } catch (err) {
      // A non-blocking stdin with nothing yet: wait a little instead of spinning.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(PAUSE, 0, 0, 20);
        continue;
      }
      return bytes.length > 0 ? Buffer.from(bytes).toString('utf8') : null;
    }
    if (n === 0) return bytes.length > 0 ? Buffer.from(bytes).toString('utf8') : null;
    if (one[0] === 0x0a) break;
    bytes.push(one[0]);
  }
  if (bytes[bytes.length - 1] === 0x0d) bytes.pop();
  return Buffer.from(bytes).toString('utf8');
}

/** Runs `stty ARGS` on the terminal open at `fd` (echo off/on). */
function stty(fd: number, args: readonly string[]): void {
  spawnSync('stty', args, { stdio: [fd, 'ignore', 'ignore'] });
}

/** Asks on the controlling terminal, without echo, as OpenSSL's prompt does; null without a terminal. */
function askOnTerminal(prompt: string): string | null | undefined {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return undefined;
  }
  try {
    // Echo goes off before the prompt shows: a passphrase typed the moment it appears stays hidden.
    stty(fd, ['-echo']);
    try {
      writeSync(fd, prompt);
      return readLine(fd);
    } finally {
      stty(fd, ['echo']);
      writeSync(fd, '\n');
    }
  } finally {
    closeSync(fd);
  }
}

/** True when stdin is something a passphrase can come from (a pipe, a file), not a terminal or nothing. */
function stdinCanAnswer(): boolean {
  try {
    const stat = fstatSync(0);
    return stat.isFIFO() || stat.isFile() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * The asker of an interactive start: the terminal when there is one, else a line from stdin
 * (`echo "$PASS" | stunnel-ts FILE`, as with stunnel), the prompt then on stderr.
 */
export function terminalAsker(): PassphraseAsker {
  return (prompt) => {
    const typed = askOnTerminal(prompt);
    if (typed !== undefined) return typed;
    if (!stdinCanAnswer()) return null;
    process.stderr.write(`${prompt}\n`);
    return readLine(0);
  };
}
