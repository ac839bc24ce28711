/**
 * Building contexts: stunnel's failure texts, ticket-key derivation, protocol mapping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../lib/engine/engine';
import { StartupError } from '../../lib/errors';
import { ticketKeys } from '../../lib/tls/tickets';
import { pki } from '../helpers/pki';
import { configFrom, MemoryLog } from '../helpers/config';
import type { Config, TlsConfig } from '../../lib/config/model';

const p = pki();

/** The config parser already checks some of these; the engine checks again at prepare time (files can vanish). */
function withTls(text: string, change: Partial<TlsConfig>): Config {
  const config = configFrom(text);
  const [svc] = config.services;
  return { ...config, services: [{ ...svc, tls: { ...svc.tls, ...change } }] };
}

function prepareError(text: string, change: Partial<TlsConfig> = {}): StartupError {
  try {
    new Engine(new MemoryLog()).prepare(withTls(text, change));
  } catch (err) {
    assert.ok(err instanceof StartupError, String(err));
    return err;
  }
  assert.fail('prepare succeeded');
}

test('a missing certificate file names the file and the system error', () => {
  const err = prepareError(`[svc]\naccept = 127.0.0.1:0\nconnect = 1\ncert = ${p.serverCombined}`, { cert: '/nonexistent/cert.pem' });
  assert.deepEqual(err.messages, [
    'SSL_CTX_use_certificate_chain_file: /nonexistent/cert.pem: No such file or directory (2)',
    'Service [svc]: Failed to initialize TLS context',
  ]);
});

test('a bad cipher list fails the context with OpenSSL\'s reason', () => {
  const err = prepareError(`[svc]\naccept = 127.0.0.1:0\nconnect = 1\ncert = ${p.serverCombined}\nciphers = NO-SUCH-CIPHER`);
  assert.equal(err.messages[0], 'SSL_CTX_set_cipher_list: error:0A0000B9:SSL routines::no cipher match');
  assert.equal(err.messages[1], 'Service [svc]: Failed to initialize TLS context');
});

test('a key that does not match the certificate fails the context', () => {
  const err = prepareError(`[svc]\naccept = 127.0.0.1:0\nconnect = 1\ncert = ${p.serverCert}\nkey = ${p.clientKey}`);
  assert.match(err.messages[0], /^SSL_CTX_use_PrivateKey_file: .*client\.key: error:[0-9A-F]{8}:/);
});

test('a server without a certificate is refused', () => {
  const err = prepareError(`[svc]\naccept = 127.0.0.1:0\nconnect = 1\ncert = ${p.serverCombined}`, { cert: null, key: null });
  assert.deepEqual(err.messages, ['Service [svc]: TLS server needs a certificate']);
});

test('"No trusted certificates found" is said once per section, by the configuration, not again by the engine', () => {
  const log = new MemoryLog();
  const config = configFrom(`[a]\naccept = 127.0.0.1:0\nconnect = 1\ncert = ${p.serverCombined}\n[b]\naccept = 127.0.0.1:0\nconnect = 1\ncert = ${p.serverCombined}`);
  new Engine(log).prepare(config);
  assert.deepEqual(log.lines.filter((l) => l.level <= 4).map((l) => `${l.level} ${l.text}`), []);
  assert.deepEqual(config.notices.filter((n) => n.text === 'No trusted certificates found').map((n) => n.level), [3, 3]);
});

test('ticket keys are 48 bytes and depend only on the two secrets', () => {
  const a = ticketKeys(Buffer.alloc(16, 1), Buffer.alloc(16, 2));
  assert.equal(a.length, 48);
  assert.deepEqual(ticketKeys(Buffer.alloc(16, 1), Buffer.alloc(16, 2)), a);
  assert.notDeepEqual(ticketKeys(Buffer.alloc(16, 1), Buffer.alloc(16, 3)), a);
});
