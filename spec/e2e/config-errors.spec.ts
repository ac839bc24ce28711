/**
 * @module spec/e2e/config-errors
 * One golden test per error class of stunnel 5.68 (reference §4.2): the real binary,
 * a broken config in a temp dir, the exact `[!]` lines and exit code 1.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { runStunnelTs, tempDir, writeConf, type Running } from '../helpers/daemon';
import { pki } from '../helpers/pki';

const dir = realpathSync(tempDir('stunnel-ts-bad-'));
const p = pki();
const GOOD = `cert = ${p.serverCombined}\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n`;

/**
 * Exit status once stderr is fully read: 'exit' can come before the last output
 * (the shared helper resolves `exited` on 'exit').
 */
async function settled(r: Running): Promise<{ code: number | null }> {
  const result = await r.exited;
  const stream = r.child.stderr!;
  if (!stream.closed) await once(stream, 'close');
  return result;
}

/** Runs the binary on `text` and returns its `[!]` lines and exit code. */
async function broken(name: string, text: string, args: string[] = []): Promise<{ file: string; errors: string[]; code: number | null }> {
  const file = writeConf(dir, name, text);
  const r = runStunnelTs([...args, file]);
  // A configuration that wrongly starts is stopped, so the test fails at once instead of timing out.
  r.waitFor(/Accepting new connections/).then(() => r.stop(), () => undefined);
  const { code } = await settled(r);
  return { file, errors: r.lines.filter((l) => l.startsWith('[!] ')), code };
}

describe('configuration errors (stunnel 5.68 texts)', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, string, (f: string) => string[]]> = [
    ['01 unknown option', `foreground = yes\n[svc]\n${GOOD}fooBar = 1\n`, (f) => [`${f}:6: "fooBar = 1": Specified option name is not valid here`]],
    ['02a yes/no', `[svc]\n${GOOD}client = maybe\n`, (f) => [`${f}:5: "client = maybe": The argument needs to be either 'yes' or 'no'`]],
    ['02b timeout', `[svc]\n${GOOD}TIMEOUTidle = 10s\n`, (f) => [`${f}:5: "TIMEOUTidle = 10s": Illegal idle timeout`]],
    ['02c debug', `debug = 9\n[svc]\n${GOOD}`, (f) => [`${f}:1: "debug = 9": Illegal debug level`]],
    ['02d foreground', `foreground = maybe\n[svc]\n${GOOD}`, (f) => [`${f}:1: "foreground = maybe": The argument needs to be either 'yes', 'quiet' or 'no'`]],
    ['03a missing cert', '[svc]\ncert = /nonexistent/x.pem\naccept = 127.0.0.1:0\nconnect = 9\n',
      (f) => [`${f}:2: "cert = /nonexistent/x.pem": /nonexistent/x.pem: No such file or directory (2)`, 'Service [svc]: Failed to initialize TLS context']],
    ['03b no cert', '[svc]\naccept = 127.0.0.1:0\nconnect = 9\n', () => ['Service [svc]: TLS server needs a certificate']],
    ['04 wrong scope', `[svc]\n${GOOD}pid = /tmp/x.pid\n`, (f) => [`${f}:5: "pid = /tmp/x.pid": Specified option name is not valid here`]],
    ['05a one endpoint', `[svc]\ncert = ${p.serverCombined}\nconnect = 9\n`, () => ['Service [svc]: Each service must define two endpoints']],
    ['05b inetd accept', GOOD, () => ["Inetd mode: 'accept' option is only allowed in a [section]"]],
    ['05c empty', '', () => ['Inetd mode: TLS server needs a certificate', 'Inetd mode: Inetd mode must define one endpoint']],
    ['09 no equals', '[svc]\naccept 127.0.0.1:17001\n', (f) => [`${f}:2: "accept 127.0.0.1:17001": No '=' found`]],
    ['12 relative paths', `pid = x.pid\noutput = y.log\n[svc]\n${GOOD}`,
      () => ['Global options: Log file must include full path name', 'Global options: Pid file must include full path name']],
    ['inline comment', `[svc]\ncert = ${p.serverCombined}\naccept = 127.0.0.1:17001 ; c\nconnect = 9\n`,
      (f) => [`${f}:3: "accept = 127.0.0.1:17001 ; c": Unknown TCP service "17001 ; c"`]],
    ['include missing', `include = ${dir}/nope\n[svc]\n${GOOD}`,
      (f) => ['scandir: No such file or directory (2)', `${f}:1: "include = ${dir}/nope": Failed to include directory`]],
    ['refused protocol', `[svc]\n${GOOD}protocol = cifs\n`,
      (f) => [`${f}:5: "protocol = cifs": Not supported by stunnel-ts: the 'cifs' protocol negotiation is not implemented; only 'proxy', 'socks', 'smtp', 'pop3', 'imap', 'pgsql', and 'connect', 'nntp', 'ldap' in client mode are`]],
    ['unknown protocol', `[svc]\n${GOOD}protocol = gopher\n`, () => ['Service [svc]: Protocol not supported']],
  ];

  for (const [name, text, expected] of cases) {
    test(name, async () => {
      const r = await broken(`${name.replace(/\W+/g, '-')}.conf`, text);
      assert.deepEqual(r.errors, [...expected(r.file), 'Configuration failed'].map((m) => `[!] ${m}`));
      assert.equal(r.code, 1);
    });
  }

  test('11 missing configuration file: two lines, no trailer', async () => {
    const r = runStunnelTs(['/nonexistent.conf']);
    const { code } = await settled(r);
    assert.deepEqual(r.lines, ['[!] Invalid configuration file name "/nonexistent.conf"', '[!] realpath: No such file or directory (2)']);
    assert.equal(code, 1);
  });

  test('-test reports a certificate whose key is missing', async () => {
    const r = await broken('cert-only.conf', `[svc]\ncert = ${p.serverCert}\naccept = 127.0.0.1:0\nconnect = 9\n`, ['-test']);
    assert.deepEqual(r.errors, [`[!] Service [svc]: No private key found in ${p.serverCert}`, '[!] Service [svc]: Failed to initialize TLS context', '[!] Configuration failed']);
    assert.equal(r.code, 1);
  });
});
