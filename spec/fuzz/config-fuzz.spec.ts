/**
 * @module spec/fuzz/config-fuzz
 * Hostile configuration input: thousands of mutated real configs through the loader and
 * `-test` in-process, a sample through the real binary, include loops and hand-picked
 * extremes. Each must end in `Configuration OK` or a clean error with exit code 1.
 * Seed: $FUZZ_SEED, else random (printed); `FUZZ_CASES` overrides the count.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, tempDir } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import { runToExit } from '../helpers/net';
import {
  checkInWorker, formatFailure, makeCase, outputProblem, runCasesInWorker, seedFiles, type StubFiles,
} from '../helpers/fuzz';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.FUZZ_CASES ?? 600);
const BINARY_SAMPLE = 8;

let dir: string;
let stub: StubFiles;

before(() => {
  dir = tempDir('stunnel-ts-fuzz-');
  const p = pki();
  stub = { cert: p.serverCert, key: p.serverKey, CAfile: p.caFile, dir: p.dir };
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `stunnel-ts -test FILE`: its exit code and output lines, or `hung` after the backstop. */
async function binaryTest(file: string, backstopMs = 20_000): Promise<{ code: number | null; lines: string[]; hung: boolean }> {
  const r = await runToExit(process.execPath, [BIN, '-test', file], backstopMs);
  return { code: r.code, lines: r.out.split('\n').filter((l) => l !== ''), hung: r.hung };
}

function confFile(name: string, text: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe(`config fuzzing (seed ${SEED})`, () => {
  test(`${CASES} mutated configs load or fail cleanly in-process (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
    t.diagnostic(`seed ${SEED}: replay with FUZZ_SEED=${SEED} or node scripts/fuzz-config.mjs ${CASES} ${SEED}`);
    assert.ok(seedFiles().length > 90, 'conf-examples and the corpus are the seeds');
    const report = await runCasesInWorker({ seed: SEED, count: CASES, workDir: join(dir, 'cases'), stub });
    t.diagnostic(`${report.cases} cases, ${report.ok} loaded OK, ${report.failed} broke a rule`);
    assert.deepEqual(report.failures.slice(0, 10).map(formatFailure), []);
  });

  test(`a sample of mutated configs through the real binary -test (seed ${SEED})`, async () => {
    const files = seedFiles();
    const sample = Array.from({ length: BINARY_SAMPLE }, (_, i) => makeCase(SEED, 1_000_000 + i, files, stub));
    mkdirSync(join(dir, 'bin'), { recursive: true });
    const problems: string[] = [];
    for (let i = 0; i < sample.length; i += 2) {
      const pair = sample.slice(i, i + 2).map(async (c) => {
        const file = confFile(join('bin', `case-${c.index}.conf`), c.bytes);
        const r = await binaryTest(file);
        const problem = r.hung ? 'hang' : outputProblem(r.code, r.lines);
        if (problem) problems.push(`seed ${SEED} case ${c.index} (${c.seedFile}; ${c.mutations.join('+')}): ${problem}`);
      });
      await Promise.all(pair);
    }
    assert.deepEqual(problems, []);
  });
});

describe('include loops end with an error, not endless recursion', () => {
  // stunnel 5.68 has no guard: it recurses until it crashes (observed: SIGSEGV, exit 139).
  function loopDir(name: string): { main: string; inner: string } {
    const inner = join(dir, name);
    mkdirSync(inner, { recursive: true });
    writeFileSync(join(inner, 'a.conf'), `include = ${inner}\n`);
    const main = confFile(`${name}.conf`, `foreground = yes\ninclude = ${inner}\n[x]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:1\n`);
    return { main, inner };
  }

  test('a directory holding a file that includes the same directory: in-process', async () => {
    const { main } = loopDir('self-loop');
    const verdict = await checkInWorker(main, 10_000);
    assert.equal(verdict.problem, null, verdict.problem ?? '');
    assert.equal(verdict.code, 1);
  });

  test('two directories including each other: real binary exits 1 with a clean error', async () => {
    const a = join(dir, 'ping');
    const b = join(dir, 'pong');
    mkdirSync(a, { recursive: true });
    mkdirSync(b, { recursive: true });
    writeFileSync(join(a, '1.conf'), `include = ${b}\n`);
    writeFileSync(join(b, '1.conf'), `include = ${a}\n`);
    const main = confFile('pingpong.conf', `include = ${a}\n`);
    const r = await binaryTest(main);
    assert.equal(r.hung, false, 'the binary must not hang');
    assert.equal(outputProblem(r.code, r.lines), null, r.lines.slice(0, 5).join('\n'));
    assert.equal(r.code, 1);
  });
});

describe('hand-picked extremes', () => {
  const extremes: Array<[string, string | Buffer]> = [
    ['empty file', ''],
    ['only NULs', Buffer.alloc(4096)],
    ['a 1 MB line without "="', 'x'.repeat(1 << 20)],
    ['a 1 MB option value', `foreground = yes\n[s]\naccept = 127.0.0.1:0\nconnect = 1\nciphers = ${'A'.repeat(1 << 20)}\n`],
    ['2^63 in every timeout', `[s]\naccept = 127.0.0.1:0\nconnect = 1\n${['TIMEOUTbusy', 'TIMEOUTclose', 'TIMEOUTconnect', 'TIMEOUTidle'].map((o) => `${o} = 9223372036854775808`).join('\n')}\n`],
    ['2^64 as a port', '[s]\naccept = 127.0.0.1:18446744073709551616\nconnect = 1\n'],
    ['invalid UTF-8 in a section name', Buffer.from([0x5b, 0xff, 0xfe, 0xc3, 0x28, 0x5d, 0x0a])],
    ['20 000 sections', Array.from({ length: 20_000 }, (_, i) => `[s${i}]`).join('\n')],
    ['a line with 1 MB of blanks between two words', `foreground = yes\nciphers = A${' '.repeat(1 << 20)}B\n`],
    ['a directory as the certificate', `[s]\naccept = 127.0.0.1:0\nconnect = 1\ncert = /tmp\n`],
  ];
  // Each answered within 3 s: what a 2-core machine needs for a few MB of text when nothing is quadratic.
  for (const [name, text] of extremes) {
    test(`${name}: a clean verdict within 3 s`, async () => {
      const verdict = await checkInWorker(confFile(`extreme-${name.replace(/\W+/g, '-')}.conf`, text), 3_000);
      assert.equal(verdict.problem, null, verdict.problem ?? '');
    });
  }

  test('the real binary on a directory passed as the configuration file', async () => {
    const r = await binaryTest(dir);
    assert.equal(outputProblem(r.code, r.lines), null, r.lines.join('\n'));
    assert.equal(r.code, 1);
  });

  test('control characters from the file are printed as "." (as stunnel does), not sent to the terminal', async () => {
    const file = confFile('escape.conf', 'foreground = yes\nfoo\x1b[31m\x01bar = 1\n');
    const r = await binaryTest(file);
    assert.equal(r.code, 1);
    assert.ok(r.lines.some((l) => l.includes('"foo.[31m.bar = 1": Specified option name is not valid here')), r.lines.join('\n'));
    // eslint-disable-next-line no-control-regex -- the point: no control character may reach the output
    assert.ok(!r.lines.some((l) => /[\x00-\x08\x0b-\x1f\x7f]/.test(l)), 'no raw control characters in the output');
  });
});
