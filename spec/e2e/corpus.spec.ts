/**
 * @module spec/e2e/corpus
 * The 94-file real-world corpus: `-test` on every plain file must end in the same
 * outcome class as stunnel 5.68 did (MANIFEST.tsv), with the same line for config
 * errors; files that only lack their certificates load once those are stubbed.
 */
import { CORPUS_ROOT } from '../helpers/corpus';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, tempDir } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import { ensureUsers, namesAccount } from '../helpers/accounts';
import { loadConfigText } from '../../lib/config/load';
import { checkCredentials } from '../../lib/lint';
import { ConfigError } from '../../lib/errors';

const CORPUS = CORPUS_ROOT;

interface Row { file: string; kind: string; outcome: string; firstError: string }

const rows: Row[] = readFileSync(join(CORPUS, 'MANIFEST.tsv'), 'utf8').trimEnd().split('\n').slice(1)
  .map((l) => l.split('\t')).map((f) => ({ file: f[0], kind: f[4], outcome: f[6] ?? '', firstError: (f[7] ?? '').replace(/""/g, '"') }))
  .filter((r) => r.kind === 'plain');

/** Where stunnel-ts deliberately differs from stunnel 5.68, and why. */
const DEVIATIONS: Record<string, string> = {
  // `sslVersion = SSLv3`: Node's OpenSSL has no SSLv3 (stunnel 5.68 on Debian parses it and starts).
  '097.conf': 'not-supported',
};

/**
 * The scratch copy stunnel 5.68 was run on: two lines prepended (foreground, empty pid)
 * and every `pid =` line emptied in place — so MANIFEST line numbers are 2 higher.
 */
function scratchText(original: string): string {
  return 'foreground = yes\npid =\n' + original.replace(/^([ \t]*pid[ \t]*=).*$/gim, '$1');
}

function classify(code: number | null, stderr: string): { cls: string; first: string } {
  if (code === 0) return { cls: 'ok', first: '' };
  const first = stderr.split('\n').find((l) => l.startsWith('[!] ')) ?? '';
  if (/Illegal (UID|GID)/.test(first)) return { cls: 'other', first };
  if (/Not supported by stunnel-ts/.test(first)) return { cls: 'not-supported', first };
  if (/No such file or directory|Failed to include directory/.test(first)) return { cls: 'missing-file', first };
  return { cls: 'config-error', first };
}

function runTest(file: string, cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '-test', file], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('real-world corpus under -test', () => {
  let dir: string;
  const results = new Map<string, { code: number | null; stderr: string; path: string }>();

  before(async () => {
    dir = tempDir('stunnel-ts-corpus-');
    const queue = [...rows];
    const worker = async () => {
      for (let row = queue.shift(); row; row = queue.shift()) {
        const path = join(dir, row.file);
        writeFileSync(path, scratchText(readFileSync(join(CORPUS, 'files', row.file), 'latin1')), 'latin1');
        results.set(row.file, { ...(await runTest(path, dir)), path });
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('covers every plain file of the manifest', () => {
    assert.ok(rows.length >= 80, `only ${rows.length} plain files`);
  });

  for (const row of rows) {
    // stunnel 5.68 ran the corpus where Debian's stunnel4 package had made its user.
    const needs = namesAccount(readFileSync(join(CORPUS, 'files', row.file), 'latin1'), 'stunnel4');
    test(`${row.file}: ${DEVIATIONS[row.file] ?? row.outcome}`, { skip: needs && ensureUsers('stunnel4') }, () => {
      const r = results.get(row.file)!;
      const { cls, first } = classify(r.code, r.stderr);
      assert.equal(cls, DEVIATIONS[row.file] ?? row.outcome, r.stderr);
      if (cls === 'ok') assert.match(r.stderr, /^Configuration OK$/m);
      else assert.equal(r.code, 1);
      const line = /^\d+\.conf:(\d+): /.exec(row.firstError)?.[1];
      if (line && !DEVIATIONS[row.file]) assert.ok(first.startsWith(`[!] ${r.path}:${line}: `), `expected line ${line}: ${first}`);
      if (/^(Service \[|Inetd mode:)/.test(row.firstError)) assert.equal(first, `[!] ${row.firstError}`);
    });
  }
});

describe('missing-file corpus files load once their files are stubbed', () => {
  const p = pki();
  let dir: string;
  before(() => {
    dir = tempDir('stunnel-ts-stub-');
    mkdirSync(join(dir, 'include.d'));
    writeFileSync(join(dir, 'include.d', 'svc.conf'),
      `[included]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = ${p.serverCombined}\n`);
    writeFileSync(join(dir, 'psk.txt'), 'client1:0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const stubs: Record<string, () => string> = {
    cert: () => p.serverCombined, key: () => p.serverKey, cafile: () => p.caFile, capath: () => p.dir,
    crlfile: () => p.caFile, crlpath: () => p.dir, psksecrets: () => join(dir, 'psk.txt'), include: () => join(dir, 'include.d'),
  };
  const stub = (text: string) => text.replace(/^([ \t]*)(cert|key|CAfile|CApath|CRLfile|CRLpath|PSKsecrets|include)([ \t]*=).*$/gim,
    (_m, lead: string, name: string, eq: string) => `${lead}${name}${eq} ${stubs[name.toLowerCase()]()}`);

  for (const row of rows.filter((r) => r.outcome === 'missing-file')) {
    test(row.file, () => {
      const text = stub(scratchText(readFileSync(join(CORPUS, 'files', row.file), 'latin1')));
      let config;
      try {
        config = loadConfigText(text, join(dir, row.file));
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        // Files that go on to use what stunnel-ts refuses (e.g. `protocol = smtp`) fail for that reason only.
        assert.ok(err.messages.every((m) => /Not supported by stunnel-ts/.test(m)), err.messages.join('\n'));
        return;
      }
      const services = config.inetd ? [config.inetd] : config.services;
      assert.ok(services.length > 0);
      for (const s of services) assert.deepEqual(checkCredentials(`Service [${s.name}]`, s), []);
    });
  }
});
