/**
 * @module spec/packaging/npm-pack
 * `npm pack` makes a tarball holding what runs and what users read (compiled dist/lib,
 * bin, init script, units, logrotate rules, man page, examples, the native addon's
 * sources) and nothing of the development tree; `npm install -g --prefix DIR TARBALL`
 * installs it without TypeScript (devDependencies are not installed) and
 * `DIR/bin/stunnel-ts -version` runs. Talks to the npm registry for the runtime
 * dependencies; takes several seconds.
 *
 * The pack runs with --ignore-scripts: `prepare` (tsc) would rewrite dist/ under the
 * specs running beside this one; the suite has compiled it before any spec starts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/daemon';
import { run } from './fixtures';

interface PackedFile {
  readonly path: string;
  readonly mode: number;
}

let dir: string;
let tarball: string;
let files: PackedFile[];

before(async () => {
  dir = tempDir('stunnel-ts-pack-');
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { npm_config_loglevel: 'error' });
  assert.equal(packed.code, 0, packed.stderr);
  const [report] = JSON.parse(packed.stdout) as Array<{ filename: string; files: PackedFile[] }>;
  tarball = join(dir, report.filename);
  files = report.files;
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('the tarball holds what runs and what users read', () => {
  const paths = new Set(files.map((f) => f.path));
  for (const path of [
    'package.json', 'README.md', 'bin/stunnel-ts', 'dist/lib/cli.js', 'dist/lib/process/lifecycle.js',
    'init.d/stunnel-ts', 'init.d/default', 'systemd/stunnel-ts.service', 'systemd/stunnel-ts@.service',
    'logrotate/stunnel-ts', 'man/stunnel-ts.8', 'conf-examples/swiftproxy.conf', 'conf-examples/include.d/10-www.conf',
    'native/build.js', 'binding.gyp',
  ]) {
    assert.ok(paths.has(path), `missing: ${path}`);
  }
  const executable = (path: string) => (files.find((f) => f.path === path)!.mode & 0o111) !== 0;
  assert.ok(executable('bin/stunnel-ts'));
  assert.ok(executable('init.d/stunnel-ts'));
});

test('the tarball holds nothing of the development tree', () => {
  const strays = files.map((f) => f.path).filter((path) =>
    /^(spec|bench|lib|node_modules|dist\/spec|\.ci|build)\//.test(path) || path.endsWith('.ts') || path === 'tsconfig.json');
  assert.deepEqual(strays, []);
});

test('npm install -g --prefix installs it without TypeScript, and -version runs', async () => {
  const prefix = join(dir, 'prefix');
  const installed = await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball]);
  assert.equal(installed.code, 0, installed.stdout + installed.stderr);
  const version = await run(join(prefix, 'bin/stunnel-ts'), ['-version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, '');
  assert.match(version.stderr, /^stunnel 5\.68 \(stunnel-ts \d+\.\d+\.\d+\) on /m);
  const packageDir = join(prefix, 'lib/node_modules/stunnel-ts');
  assert.ok(existsSync(join(packageDir, 'node_modules/node-forge')) || existsSync(join(prefix, 'lib/node_modules/node-forge')));
  assert.equal(existsSync(join(packageDir, 'node_modules/typescript')), false);
  assert.equal(existsSync(join(packageDir, 'spec')), false);
});
