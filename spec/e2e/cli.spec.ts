/**
 * @module spec/e2e/cli
 * The command line: stunnel's info flags on stderr, case-insensitive, missing file, -fd, -test.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, tempDir, writeConf } from '../helpers/daemon';
import { pki } from '../helpers/pki';
import { parseArgs } from '../../lib/cli';

interface Result { code: number | null; stdout: string; stderr: string }

function cli(args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

describe('command line', () => {
  const dir = tempDir('stunnel-ts-cli-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('-version: banner and defaults on stderr, nothing on stdout, exit 0', async () => {
    const r = await cli(['-version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n');
    assert.match(lines[0], /^stunnel 5\.68 \(stunnel-ts \d+\.\d+\.\d+\) on \S+ platform$/);
    assert.equal(lines[1], `Compiled/running with OpenSSL ${process.versions.openssl}`);
    assert.ok(lines.includes('ciphers                = HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK'));
    assert.ok(lines.includes('TIMEOUTidle            = 43200 seconds'));
    assert.equal(lines.at(-2), 'verify                 = none');
  });

  test('flags are case-insensitive and take one or two dashes; extra words are ignored', async () => {
    const [a, b, c] = await Promise.all([cli(['-VERSION']), cli(['--version']), cli(['-version', 'extra', 'junk'])]);
    assert.equal(a.stderr, b.stderr);
    assert.equal(a.stderr, c.stderr);
    assert.deepEqual([a.code, b.code, c.code], [0, 0, 0]);
  });

  test('-help lists global and service options with help', async () => {
    const r = await cli(['-help']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Global options:$/m);
    assert.match(r.stderr, /^accept {17}= \[host:\]port accept connections on specified host:port$/m);
    assert.match(r.stderr, /^verifyPeer {13}= yes\|no verify peer certificate$/m);
    assert.equal((await cli(['--help'])).stderr, r.stderr);
  });

  test('-options lists every accepted TLS option name', async () => {
    const r = await cli(['-options']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^Supported TLS options:\noptions = ALL\n/m);
    assert.match(r.stderr, /^options = NO_TLSv1_1$/m);
  });

  test('-sockets prints the socket option table', async () => {
    const r = await cli(['-sockets']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^ {4}SO_REUSEADDR {8}\| {7}yes\| {4}-- {4}\| {4}-- {4}\| {8}no$/m);
    assert.match(r.stderr, /^ {4}TCP_NODELAY {9}\| {4}-- {4}\| {7}yes\| {7}yes\| {8}no$/m);
  });

  test('a missing file (or any other dash word) is an invalid configuration file name', async () => {
    const r = await cli(['-bogus']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '[!] Invalid configuration file name "-bogus"\n[!] realpath: No such file or directory (2)\n');
  });

  test('-fd without a number, or with a bad one, prints the syntax', async () => {
    const [none, bad] = await Promise.all([cli(['-fd']), cli(['-fd', 'x'])]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^\[!\] No file descriptor specified\n\[\.\] Syntax:\n/);
    assert.match(bad.stderr, /^\[!\] Invalid file descriptor number\n/);
  });

  test('-test -fd 0 reads the configuration from stdin', async () => {
    const r = await cli(['-test', '-fd', '0'], '[svc]\naccept = 127.0.0.1:0\nconnect = 9\nfooBar = 1\n');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '[!] 0:4: "fooBar = 1": Specified option name is not valid here\n[!] Configuration failed\n');
  });

  test('-test on a good configuration: lint warnings, then Configuration OK', async () => {
    const p = pki();
    const file = writeConf(dir, 'ok.conf', `[svc]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\nsslVersionMin = TLSv1\n`);
    const r = await cli(['--test', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^\[:\] Service \[svc\]: client mode without verifyChain or verifyPeer \(.+\)$/m);
    assert.match(r.stderr, /^\[:\] Service \[svc\]: sslVersionMin allows TLSv1 \(.+\)$/m);
    assert.match(r.stderr, /^Configuration OK$/m);
    // The test PKI's certificates are valid for 3 days; the key copy is world-readable.
    const key = join(dir, 'open.key');
    writeFileSync(key, readFileSync(p.serverKey), { mode: 0o644 });
    chmodSync(key, 0o644);
    const server = writeConf(dir, 'server.conf', `[svc]\ncert = ${p.serverCert}\nkey = ${key}\naccept = 127.0.0.1:0\nconnect = 9\n`);
    const s = await cli(['-test', server]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /^\[:\] Service \[svc\]: certificate \S+ expires on .+ \(less than 30 days left: .+\)$/m);
    assert.match(s.stderr, new RegExp(`^\\[:\\] Service \\[svc\\]: private key ${key} is accessible by other users \\(.+\\)$`, 'm'));
    assert.doesNotMatch(s.stderr, /client mode/);
  });

  test('parseArgs: only argv[1] (and the word after -fd / -test) counts', () => {
    const argv = (...a: string[]) => ['node', 'stunnel-ts', ...a];
    assert.deepEqual(parseArgs(argv()), { kind: 'run', configFile: '/etc/stunnel/stunnel.conf' });
    assert.deepEqual(parseArgs(argv('a.conf', '--', 'junk')), { kind: 'run', configFile: 'a.conf' });
    assert.deepEqual(parseArgs(argv('-FD', '3')), { kind: 'run', configFd: 3 });
    assert.deepEqual(parseArgs(argv('-Sockets')), { kind: 'info', flag: 'sockets' });
    assert.deepEqual(parseArgs(argv('-test', 'x.conf')), { kind: 'test', configFile: 'x.conf' });
  });
});
