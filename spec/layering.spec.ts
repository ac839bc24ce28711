/**
 * The module layout of STYLE.md, checked on the sources' imports (arrows point down):
 * nothing below the process layer imports it, the config layer imports nothing above it,
 * and the neutral leaves import no layer at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const LIB = join(ROOT, 'lib');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** lib-relative paths (`engine/tunnel`) of the project modules a source imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
    const spec = m[1] ?? m[2];
    found.push(relative(LIB, resolve(dirname(file), spec)).replace(/\\/g, '/'));
  }
  return found;
}

const modules = sources(LIB).map((file) => ({ name: relative(LIB, file).replace(/\.ts$/, ''), imports: importsOf(file) }));

/** Each rule: which modules it covers, and which imports they must not have. */
const RULES: ReadonlyArray<{ what: string; covers: RegExp; forbidden: RegExp }> = [
  { what: 'engine, net, tls and log never import the process layer', covers: /^(engine|net|tls)\/|^log$/, forbidden: /^process\// },
  { what: 'config imports nothing above it', covers: /^config\//, forbidden: /^(engine|net|tls|process|log|cli|lint)(\/|$)/ },
  { what: 'the neutral leaves import no layer', covers: /^(errors|errno|native|node-internals|version)$/, forbidden: /^(config|engine|net|tls|process|log|cli|lint)(\/|$)/ },
];

for (const rule of RULES) {
  test(rule.what, () => {
    const covered = modules.filter((m) => rule.covers.test(m.name));
    assert.ok(covered.length > 0, `no module matches ${rule.covers}`);
    const broken = covered.flatMap((m) => m.imports.filter((i) => rule.forbidden.test(i)).map((i) => `${m.name} → ${i}`));
    assert.deepEqual(broken, []);
  });
}

test('the import reader sees relative imports', () => {
  assert.ok(modules.find((m) => m.name === 'engine/engine')?.imports.includes('node-internals'));
});
