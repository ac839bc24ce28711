/**
 * @module spec/e2e/posture-keys
 * Private keys never leak: a passphrase-protected key (no terminal to ask on) and a
 * corrupted key make start-up and `-test` fail without printing any key material; a key
 * file readable by others is warned about as stunnel does (`Insecure file permissions on
 * FILE`, LOG4) while the daemon still starts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, tempDir, writeConf } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import { TEST_GLOBALS, runToExit, startDaemon } from '../helpers/net';

let dir: string;
let encryptedKey: string;
let brokenKey: string;
let looseKey: string;

before(() => {
  dir = tempDir('stunnel-ts-keys-');
  const p = pki();
  const key = createPrivateKey(readFileSync(p.serverKey));
  const put = (name: string, text: string, mode: number) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    chmodSync(file, mode);
    return file;
  };
  encryptedKey = put('encrypted.key', key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }) as string, 0o600);
  // A real key with one base64 line damaged in the middle.
  const lines = readFileSync(p.serverKey, 'utf8').split('\n');
  lines[5] = lines[5].split('').reverse().join('');
  brokenKey = put('broken.key', lines.join('\n'), 0o600);
  looseKey = put('loose.key', readFileSync(p.serverKey, 'utf8'), 0o644);
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** The base64 body lines of a PEM file: none of them may ever be printed. */
function keyMaterial(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => /^[A-Za-z0-9+/=]{16,}$/.test(l));
}

/** Runs the binary with stdin closed, so no passphrase can be typed: waiting for one forever is a hang. */
function runBinary(args: string[]): ReturnType<typeof runToExit> {
  return runToExit(process.execPath, [BIN, ...args], 15_000);
}

function confWithKey(name: string, key: string): string {
  const p = pki();
  return writeConf(dir, `${name}.conf`, `${TEST_GLOBALS}debug = 7\n[tls]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = ${p.serverCert}\nkey = ${key}\n`);
}

describe('a key that cannot be loaded: a clean failure, no key material in any output', () => {
  for (const [name, keyFile] of [['passphrase-protected key', () => encryptedKey], ['corrupted key', () => brokenKey]] as const) {
    for (const mode of ['start-up', '-test']) {
      test(`${name}, ${mode}`, async () => {
        const conf = confWithKey(name.replace(/\W+/g, '-'), keyFile());
        const r = await runBinary(mode === '-test' ? ['-test', conf] : [conf]);
        assert.equal(r.code, 1, r.out);
        assert.match(r.out, /Failed to initialize TLS context|private key|Private key/i);
        assert.doesNotMatch(r.out, /PRIVATE KEY/, 'no PEM header or footer printed');
        const leaked = keyMaterial(keyFile()).filter((l) => r.out.includes(l) || r.out.includes(l.slice(8, 40)));
        assert.deepEqual(leaked, [], 'no line of the key body printed');
        assert.doesNotMatch(r.out, /^\s+at /m, 'no stack trace');
      });
    }
  }
});

describe('key file permissions', () => {
  test('a key readable by others (0644) is warned about at LOG4, and the daemon still starts', async () => {
    const p = pki();
    const { daemon, dir: confDir } = await startDaemon(`debug = 6\n[tls]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = ${p.serverCert}\nkey = ${looseKey}\n`);
    try {
      await daemon.waitFor(new RegExp(`LOG4\\[ui\\]: Insecure file permissions on ${looseKey.replace(/[.]/g, '\\.')}$`));
      await daemon.port(0);
    } finally {
      await daemon.stop();
      rmSync(confDir, { recursive: true, force: true });
    }
  });

  test('a key readable by its owner only (0600) is not warned about', async () => {
    const r = await runBinary(['-test', confWithKey('tight', pki().serverKey)]);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /Insecure file permissions/);
  });
});
