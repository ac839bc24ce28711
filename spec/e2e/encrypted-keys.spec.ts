/**
 * Encrypted private keys, as stunnel 5.68 handles them: the passphrase is asked for on the
 * terminal (`Enter FILE pass phrase:`, typed without echo) or read as a line from stdin when
 * there is no terminal; three tries with `Wrong passphrase: retrying` between them; kept for
 * reloads; asked before a daemon detaches and handed to it (never through its environment);
 * PKCS#12 files with a password too. Each start runs in a new session (no controlling
 * terminal) unless a pseudo-terminal is made for it with script(1).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pki } from '../helpers/pki';
import { BIN, Running, tempDir, writeConf } from '../helpers/daemon';
import { echoServer } from '../helpers/config';
import { healthyRoundTrip } from '../helpers/net';
import { peerPath, skipWithout } from '../helpers/peers';
import { pidFrom, stopDaemon } from '../process/harness';

const PASSPHRASE = 'correct horse battery';
const p = pki();
const dir = tempDir('stunnel-ts-enckey-');
const pkcs8Key = join(dir, 'server-pkcs8.key');
const pkcs12File = join(dir, 'server.p12');
const legacyKey = join(dir, 'server-legacy.key');
const withoutOpenssl = skipWithout('openssl');
const withoutScript = skipWithout('script');
let echo: Awaited<ReturnType<typeof echoServer>>;

before(async () => {
  echo = await echoServer();
  const key = createPrivateKey(readFileSync(p.serverKey));
  writeFileSync(pkcs8Key, key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }), { mode: 0o600 });
  writeFileSync(legacyKey, key.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }), { mode: 0o600 });
  assert.match(readFileSync(legacyKey, 'utf8'), /Proc-Type: 4,ENCRYPTED/);
  if (!withoutOpenssl) execFileSync(peerPath('openssl'), ['pkcs12', '-export', '-in', p.serverCert, '-inkey', p.serverKey, '-passout', `pass:${PASSPHRASE}`, '-out', pkcs12File]);
});
after(() => {
  echo.server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A configuration serving the echo backend with the encrypted key (or PKCS#12 file). */
function conf(name: string, { key = pkcs8Key, pkcs12 = false, global = '' } = {}): string {
  const credentials = pkcs12 ? `cert = ${pkcs12File}` : `cert = ${p.serverCert}\nkey = ${key}`;
  return writeConf(dir, `${name}.conf`, `
    foreground = yes
    syslog = no
    pid =
    debug = 6
    ${global}
    [tls]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${echo.port}
    ${credentials}
  `);
}

/** Starts the binary without a controlling terminal, `stdin` written to it (null: stdin is /dev/null). */
function startWithStdin(file: string, stdin: string | null): Running {
  const child = spawn(process.execPath, [BIN, file], { stdio: [stdin === null ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true });
  if (stdin !== null) child.stdin!.end(stdin);
  return new Running(child);
}

const prompt = (file: string) => `Enter ${file} pass phrase:`;
const wrongLines = (r: Running) => r.lines.filter((l) => /LOG3\[ui\]: Wrong passphrase: retrying$|^\[!\] Wrong passphrase: retrying$/.test(l));

test('the passphrase read from stdin unlocks the key: the tunnel carries bytes', async () => {
  const r = startWithStdin(conf('stdin'), `${PASSPHRASE}\n`);
  try {
    await r.waitFor(/Accepting new connections/);
    assert.ok(r.lines.includes(prompt(pkcs8Key)), r.lines.join('\n'));
    assert.equal(await healthyRoundTrip(await r.port(), 64 * 1024), true);
    assert.ok(!r.lines.some((l) => l.includes(PASSPHRASE)), 'the passphrase is never printed');
  } finally {
    await r.stop();
  }
});

test('two wrong passphrases, then the right one: two `Wrong passphrase: retrying` lines, then it serves', async () => {
  const r = startWithStdin(conf('retry'), `wrong one\nwrong two\n${PASSPHRASE}\n`);
  try {
    await r.waitFor(/Accepting new connections/);
    assert.equal(r.lines.filter((l) => l === prompt(pkcs8Key)).length, 3);
    assert.equal(wrongLines(r).length, 2, r.lines.join('\n'));
    assert.equal(await healthyRoundTrip(await r.port(), 4096), true);
  } finally {
    await r.stop();
  }
});

test('three wrong passphrases: bad decrypt, exit code 1', async () => {
  const r = startWithStdin(conf('three'), 'a\nb\nc\n');
  const { code } = await r.exited;
  assert.equal(code, 1);
  assert.equal(wrongLines(r).length, 2, r.lines.join('\n'));
  assert.deepEqual(r.lines.filter((l) => l.startsWith('[!] ') && !/No trusted|Wrong passphrase/.test(l)), [
    `[!] SSL_CTX_use_PrivateKey_file: ${pkcs8Key}: error:1C800064:Provider routines::bad decrypt`,
    '[!] Service [tls]: Failed to initialize TLS context',
    '[!] Configuration failed',
  ]);
});

test('no terminal and nothing on stdin: `problems getting password`, exit code 1', async () => {
  const r = startWithStdin(conf('nobody'), null);
  const { code } = await r.exited;
  assert.equal(code, 1);
  assert.ok(r.lines.includes(`[!] SSL_CTX_use_PrivateKey_file: ${pkcs8Key}: error:0480006D:PEM routines::problems getting password`), r.lines.join('\n'));
  assert.ok(r.lines.includes('[!] Configuration failed'));
});

test('a reload uses the passphrase given at start (stdin has ended)', async () => {
  const r = startWithStdin(conf('reload'), `${PASSPHRASE}\n`);
  try {
    await r.waitFor(/Accepting new connections/);
    const before = r.lines.length;
    process.kill(r.child.pid!, 'SIGHUP');
    await r.waitFor(/Reading configuration from file .*reload\.conf$/);
    while (!r.lines.slice(before).some((l) => /Configuration successful$|Failed to reload/.test(l))) {
      await r.waitFor(/Configuration successful$|Failed to reload/);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(r.lines.slice(before).some((l) => /LOG5\[ui\]: Configuration successful$/.test(l)), r.lines.slice(before).join('\n'));
    assert.equal(r.lines.filter((l) => l === prompt(pkcs8Key)).length, 1, 'asked once, at start');
    assert.equal(await healthyRoundTrip(await r.port(), 4096), true);
  } finally {
    await r.stop();
  }
});

for (const [kind, file, options] of [
  ['an older PEM key (Proc-Type: 4,ENCRYPTED)', legacyKey, { key: legacyKey }],
  ['a PKCS#12 file with a password', pkcs12File, { pkcs12: true }],
] as const) {
  test(`${kind} is unlocked the same way`, { skip: 'pkcs12' in options && withoutOpenssl }, async () => {
    const r = startWithStdin(conf(`kind-${kind.length}`, options), `${PASSPHRASE}\n`);
    try {
      await r.waitFor(/Accepting new connections/);
      assert.ok(r.lines.includes(prompt(file)), r.lines.join('\n'));
      assert.equal(await healthyRoundTrip(await r.port(), 4096), true);
    } finally {
      await r.stop();
    }
  });
}

test('workers = 2: the primary asks once, both workers start with the key', async () => {
  const r = startWithStdin(conf('workers', { global: 'workers = 2' }), `${PASSPHRASE}\n`);
  try {
    await r.waitFor(/Accepting new connections/);
    assert.equal(r.lines.filter((l) => / Worker \d+ \(pid \d+\) started$/.test(l)).length, 2, r.lines.join('\n'));
    assert.equal(r.lines.filter((l) => l === prompt(pkcs8Key)).length, 1);
    assert.equal(await healthyRoundTrip(await r.port(), 4096), true);
  } finally {
    await r.stop();
  }
});

/** A port that was free a moment ago (a daemon's own lines are not on our stderr). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

test('foreground = no: asked before detaching; the daemon serves, and its environment holds no passphrase', async () => {
  const port = await freePort();
  const pidFile = join(dir, 'daemon.pid');
  const file = writeConf(dir, 'daemon.conf', `
    syslog = no
    pid = ${pidFile}
    [tls]
    accept = 127.0.0.1:${port}
    connect = 127.0.0.1:${echo.port}
    cert = ${p.serverCert}
    key = ${pkcs8Key}
  `);
  const parent = startWithStdin(file, `${PASSPHRASE}\n`);
  const { code } = await parent.exited;
  assert.equal(code, 0, parent.lines.join('\n'));
  assert.ok(parent.lines.includes(prompt(pkcs8Key)));
  const pid = pidFrom(pidFile);
  try {
    assert.equal(await healthyRoundTrip(port, 64 * 1024), true);
    const environ = readFileSync(`/proc/${pid}/environ`);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`);
    assert.equal(environ.includes(PASSPHRASE), false, 'not in the environment');
    assert.equal(cmdline.includes(PASSPHRASE), false, 'not on the command line');
  } finally {
    await stopDaemon(pidFile);
  }
  assert.equal(existsSync(pidFile), false);
});

test('on a terminal: the prompt is shown there and the passphrase is not echoed', { skip: withoutScript }, async () => {
  const file = conf('tty');
  // script(1) runs the binary on a new pseudo-terminal that is its controlling terminal.
  const child = spawn(peerPath('script'), ['-qfec', `exec "${process.execPath}" "${BIN}" "${file}"`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  const seen = (text: string) => new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!screen.includes(text)) return;
      child.stdout.off('data', check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => reject(new Error(`backstop: no "${text}" on the terminal:\n${screen}`)), 15000);
    child.stdout.on('data', check);
    check();
  });
  child.stdout.on('data', (chunk: Buffer) => { screen += chunk.toString(); });
  const exited = once(child, 'close');
  try {
    await seen(prompt(pkcs8Key));
    child.stdin.write(`${PASSPHRASE}\r`);
    await seen('Accepting new connections');
    assert.equal(screen.includes(PASSPHRASE), false, `the typed passphrase was echoed:\n${screen}`);
    // Ctrl-C on the terminal: SIGINT to the foreground process, which exits as on TERM.
    child.stdin.write('\x03');
    await exited;
    assert.match(screen, /LOG3\[ui\]: Received SIGINT; terminating/);
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
});
