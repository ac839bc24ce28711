// Runs every compiled spec file (dist/spec/**/*.spec.js) on Node's built-in test runner.
// Usage: node spec/run.mjs [substring …]  — only files whose path contains one of the substrings.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.spec.js') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = walk('dist/spec').sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
