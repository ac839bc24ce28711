/**
 * @module spec/e2e/examples
 * Every file in conf-examples/ loads: `stunnel-ts -test FILE` prints `Configuration OK`
 * and exits 0, once its certificate paths (/etc/stunnel/...) point at this run's
 * generated certificates and `include` at a copy of include.d/ rewritten the same way.
 * Each file opens with a comment saying what it shows.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BIN, tempDir } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import { ensureUsers, namesAccount } from '../helpers/accounts';

const EXAMPLES = resolve(__dirname, '../../../conf-examples');
const configFiles = readdirSync(EXAMPLES).filter((name) => name.endsWith('.conf')).sort();
const fragments = readdirSync(join(EXAMPLES, 'include.d')).sort();

let dir: string;

/** The example with its file options pointing at this run's files (same line numbers). */
function rewritten(text: string): string {
  const { serverCert, serverKey, caFile } = pki();
  const paths: Record<string, string> = {
    cert: serverCert, key: serverKey, cafile: caFile, include: join(dir, 'include.d'),
  };
  return text.replace(/^([ \t]*)(\w+)([ \t]*=[ \t]*)\/etc\/stunnel\/.*$/gm, (line, indent: string, name: string, eq: string) => {
    const path = paths[name.toLowerCase()];
    return path === undefined ? line : `${indent}${name}${eq}${path}`;
  });
}

function loadTest(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, '-test', file], (error, stdout, stderr) => {
      resolvePromise({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

before(() => {
  dir = tempDir('stunnel-ts-examples-');
  mkdirSync(join(dir, 'include.d'));
  for (const name of fragments) {
    writeFileSync(join(dir, 'include.d', name), rewritten(readFileSync(join(EXAMPLES, 'include.d', name), 'utf8')));
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('the examples are the documented set', () => {
  assert.deepEqual(configFiles, [
    'client.conf', 'include.conf', 'inetd.conf', 'mail-starttls.conf', 'mtls-server.conf', 'multi-service.conf', 'sni.conf',
    'swiftproxy.conf',
  ]);
  assert.deepEqual(fragments, ['10-www.conf', '20-postgres.conf']);
});

test('each example starts with a comment naming it and saying what it shows', () => {
  for (const name of configFiles) {
    const text = readFileSync(join(EXAMPLES, name), 'utf8');
    assert.match(text, new RegExp(`^; ${name.replace('.', '\\.')} - \\S`), name);
    assert.match(text, /^; Shows: /m, name);
  }
  for (const name of fragments) {
    assert.match(readFileSync(join(EXAMPLES, 'include.d', name), 'utf8'), new RegExp(`^; include\\.d/${name.replace('.', '\\.')} - \\S`));
  }
});

for (const name of configFiles) {
  const text = readFileSync(join(EXAMPLES, name), 'utf8');
  // Debian's stunnel4 package brings the user the examples drop to.
  test(`${name} loads with -test`, { skip: namesAccount(text, 'stunnel4') && ensureUsers('stunnel4') }, async () => {
    const file = join(dir, name);
    writeFileSync(file, rewritten(text));
    const { code, output } = await loadTest(file);
    assert.match(output, /Configuration OK/, output);
    assert.equal(code, 0, output);
  });
}
