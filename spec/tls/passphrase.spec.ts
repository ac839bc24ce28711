/**
 * The passphrase book: an encrypted key (PEM or PKCS#12) is unlocked with a known
 * passphrase, the last one that worked, or up to three asked for, `Wrong passphrase:
 * retrying` between them; what it learned is handed on as entries; with nobody to ask, the
 * error is OpenSSL's `problems getting password`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pki } from '../helpers/pki';
import { isEncryptedPem, PassphraseBook } from '../../lib/tls/passphrase';
import { peerPath, skipWithout } from '../helpers/peers';

const p = pki();
const key = createPrivateKey(readFileSync(p.serverKey));
const encrypted = Buffer.from(key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right' }) as string);

/** An asker that answers from `answers` in turn (null when they run out) and records the prompts. */
function answering(...answers: string[]) {
  const prompts: string[] = [];
  return { prompts, ask: (prompt: string) => { prompts.push(prompt); return answers.shift() ?? null; } };
}

test('encrypted PEM keys are told apart from plain ones', () => {
  assert.equal(isEncryptedPem(encrypted), true);
  assert.equal(isEncryptedPem(Buffer.from(key.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'x' }) as string)), true);
  assert.equal(isEncryptedPem(readFileSync(p.serverKey)), false);
});

test('asked until right, with a warning between tries; then known without asking', () => {
  const asker = answering('wrong', 'right');
  const warnings: string[] = [];
  const book = new PassphraseBook(asker.ask);
  assert.equal(book.forPem('/k.pem', encrypted, (w) => warnings.push(w)), 'right');
  assert.deepEqual(asker.prompts, ['Enter /k.pem pass phrase:', 'Enter /k.pem pass phrase:']);
  assert.deepEqual(warnings, ['Wrong passphrase: retrying']);
  assert.equal(book.forPem('/k.pem', encrypted, () => assert.fail('no warning')), 'right');
  assert.equal(asker.prompts.length, 2, 'not asked again');
  assert.deepEqual(book.entries(), [['/k.pem', 'right']]);
});

test('the last passphrase that worked is tried first for another key', () => {
  const asker = answering('right');
  const book = new PassphraseBook(asker.ask);
  book.forPem('/a.pem', encrypted, () => undefined);
  assert.equal(book.forPem('/b.pem', encrypted, () => undefined), 'right');
  assert.equal(asker.prompts.length, 1);
});

test('three wrong passphrases: bad decrypt; nobody to ask: problems getting password', () => {
  const warnings: string[] = [];
  assert.throws(() => new PassphraseBook(answering('a', 'b', 'c').ask).forPem('/k.pem', encrypted, (w) => warnings.push(w)),
    { message: 'SSL_CTX_use_PrivateKey_file: /k.pem: error:1C800064:Provider routines::bad decrypt' });
  assert.equal(warnings.length, 2);
  assert.throws(() => new PassphraseBook(null).forPem('/k.pem', encrypted, () => undefined),
    { message: 'SSL_CTX_use_PrivateKey_file: /k.pem: error:0480006D:PEM routines::problems getting password' });
});

test('a book made from entries (a daemon child, a worker) unlocks without asking', () => {
  const book = new PassphraseBook(null, [['/k.pem', 'right']]);
  assert.equal(book.forPem('/k.pem', encrypted, () => undefined), 'right');
});

test('PKCS#12: no password needed gives \'\' without asking; a password is asked for', { skip: skipWithout('openssl') }, () => {
  const plain = join(p.dir, 'plain.p12');
  const locked = join(p.dir, 'locked.p12');
  execFileSync(peerPath('openssl'), ['pkcs12', '-export', '-in', p.serverCert, '-inkey', p.serverKey, '-passout', 'pass:', '-out', plain]);
  execFileSync(peerPath('openssl'), ['pkcs12', '-export', '-in', p.serverCert, '-inkey', p.serverKey, '-passout', 'pass:right', '-out', locked]);
  const asker = answering('right');
  const book = new PassphraseBook(asker.ask);
  assert.equal(book.forPkcs12(plain, readFileSync(plain), () => undefined), '');
  assert.equal(asker.prompts.length, 0);
  assert.equal(book.forPkcs12(locked, readFileSync(locked), () => undefined), 'right');
  assert.deepEqual(asker.prompts, [`Enter ${locked} pass phrase:`]);
});
