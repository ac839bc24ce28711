// Runs every compiled spec file (dist/spec/**/*.spec.js) on Node's built-in test runner.
// Usage: node spec/run.mjs [substring …]  — only files whose path contains one of the substrings.
//
// The run owns one temp root (TMPDIR for every test process, so every temp dir of the run lives
// under it) and one marker variable (STUNNEL_TS_TEST_RUN=<id>, inherited by every process the
// run starts, kept by daemons that detach). At the end it says how many tests were skipped for
// missing programs and the apt-get line that runs them; then any process of THIS run still alive
// is listed, killed, and fails the run. Processes of other runs (other checkouts, CI) are never
// touched: they carry another id and another root.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const require = createRequire(import.meta.url);
const { RUN_MARKER, findMarked, killAll } = require('../dist/spec/helpers/proc-scan.js');

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.spec.js') ? [path] : [];
  });
}

/** "N tests skipped …: apt-get install …" from the skip log the peers helper appends to. */
function skipSummary(skipLog) {
  let lines = [];
  try { lines = readFileSync(skipLog, 'utf8').split('\n').filter(Boolean); } catch { /* nothing skipped */ }
  if (lines.length === 0) return null;
  const packages = [...new Set(lines.flatMap((l) => l.split('\t')[0].split(' ')))].sort();
  if (process.env.STUNNEL_TS_SKIP_DETAIL === '1') for (const l of lines) console.log(`#   skipped at ${l.split('\t')[1]}`);
  return `${lines.length} test(s) or suite(s) skipped for missing programs; to run them: apt-get install -y ${packages.join(' ')}`;
}

const filters = process.argv.slice(2);
const files = walk('dist/spec').sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const root = mkdtempSync(join(tmpdir(), 'stunnel-ts-run-'));
chmodSync(root, 0o1777); // like /tmp: daemons that drop to nobody must reach their jails under it
const id = `${process.pid}-${Date.now()}`;
const skipLog = join(root, 'skipped-peers.log');
const env = { ...process.env, TMPDIR: root, [RUN_MARKER]: id, STUNNEL_TS_SKIP_LOG: skipLog };

// Every wait in the specs has its own short deadline; this is the last resort, and Node 20 applies it
// to each spec FILE as a whole too (a file longer than this is cancelled): the corpus file alone
// takes over 60 s on a loaded 2-core machine, so it stays at 3 minutes.
const runner = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...files], { stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => runner.kill(signal));
const status = await new Promise((resolve) => runner.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));

const summary = skipSummary(skipLog);
if (summary) console.log(`# ${summary}`);

const left = findMarked({ env: `${RUN_MARKER}=${id}`, root });
if (left.length > 0) {
  console.log(`# FAIL: ${left.length} process(es) of this run still running after the last spec file; killed:`);
  for (const { pid, command } of left) console.log(`#   ${pid} ${command}`);
  killAll(left);
}
rmSync(root, { recursive: true, force: true });
process.exit(left.length > 0 ? 1 : status);
