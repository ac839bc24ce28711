#!/usr/bin/env node
// Long run of the configuration fuzzer (spec/helpers/fuzz.ts, compiled into dist/).
// Usage: node scripts/fuzz-config.mjs [COUNT=20000] [SEED=random] [FIRST=0]
//   COUNT cases starting at index FIRST; to replay one failing case: COUNT=1 SEED FIRST=its index.
// Exit code 0 when every case loaded or failed cleanly, 1 otherwise (each failure printed).
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { runCasesInWorker, formatFailure } = require('../dist/spec/helpers/fuzz.js');
const { pki } = require('../dist/spec/helpers/pki.js');

const count = Number(process.argv[2] ?? 20000);
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));
const first = Number(process.argv[4] ?? 0);
const workDir = mkdtempSync(join(tmpdir(), 'stunnel-ts-fuzz-'));
const p = pki();
const stub = { cert: p.serverCert, key: p.serverKey, CAfile: p.caFile, dir: p.dir };

console.log(`fuzzing ${count} cases from #${first}, seed ${seed}; case files in ${workDir}`);
const started = Date.now();
const report = await runCasesInWorker({ seed, count, first, workDir, stub });
for (const f of report.failures) console.log(formatFailure(f));
console.log(`${report.cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
  `${report.ok} loaded OK, ${report.cases - report.ok - report.failed} refused cleanly, ${report.failed} broke a rule (seed ${seed})`);
process.exitCode = report.failed === 0 ? 0 : 1;
