/**
 * @module spec/e2e/posture-tls
 * TLS posture of a server section with the seed's `sslVersion = all`: only TLS 1.2 and
 * 1.3 are accepted (what OpenSSL 3 at security level 2 allows), no weak cipher, no
 * compression, secure renegotiation only. Checked with `openssl s_client` (whose own
 * security level is lowered to 0, so a refusal is the server's) and Debian's sslscan.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { echoTunnel, healthyRoundTrip, runToExit, type EchoTunnel } from '../helpers/net';
import { peerPath, skipWithout } from '../helpers/peers';

let tunnel: EchoTunnel;
let port: number;

before(async () => {
  tunnel = await echoTunnel('debug = 6', 'sslVersion = all\n');
  port = tunnel.port;
});

after(() => tunnel?.stop());

/** `openssl s_client` against the daemon with the client's own limits lowered to security level 0. */
function sClient(...args: string[]): Promise<{ code: number | null; out: string }> {
  return runToExit(peerPath('openssl'), ['s_client', '-connect', `127.0.0.1:${port}`, ...args]);
}

describe('protocol versions with sslVersion = all', { skip: skipWithout('openssl') }, () => {
  for (const version of ['tls1', 'tls1_1']) {
    test(`-${version} is refused by the server`, async () => {
      const r = await sClient(`-${version}`, '-cipher', 'DEFAULT@SECLEVEL=0');
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /alert|handshake failure|no protocols|wrong version/i);
      assert.doesNotMatch(r.out, /^New, TLSv[\d.]+, Cipher is /m, 'no session was negotiated');
    });
  }
  for (const [version, name] of [['tls1_2', 'TLSv1.2'], ['tls1_3', 'TLSv1.3']]) {
    test(`-${version} is accepted (${name}, no compression, secure renegotiation)`, async () => {
      const r = await sClient(`-${version}`);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`^New, ${name.replace('.', '\\.')}, Cipher is [A-Z]`, 'm'));
      assert.match(r.out, /Compression: NONE/);
      if (name === 'TLSv1.2') assert.match(r.out, /Secure Renegotiation IS supported/);
    });
  }
  test('a renegotiation asked for by openssl s_client (R) is refused with a no_renegotiation alert', async () => {
    const child = spawn(peerPath('openssl'), ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-msg'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let asked = false;
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      // The handshake is done once s_client prints its session summary: then ask (and keep stdin open).
      if (!asked && /Verify return code: .*\n(?:[ \t]+.*\n)*---\n/.test(out)) {
        asked = true;
        child.stdin.write('R\n');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const backstop = setTimeout(() => child.kill('SIGKILL'), 20_000); // backstop: a hang is a failure
    const [code] = await once(child, 'close');
    clearTimeout(backstop);
    assert.ok(asked, out);
    assert.match(out, /RENEGOTIATING/);
    assert.match(out, /<<< TLS 1\.2, Alert \[length 0002\], warning no_renegotiation/);
    assert.match(out, /no renegotiation/);
    assert.notEqual(code, 0);
    assert.equal(await healthyRoundTrip(port, 4096), true);
  });
  test('weak ciphers (RC4, 3DES, NULL, EXPORT) are refused', async () => {
    const r = await sClient('-tls1_2', '-cipher', 'RC4:3DES:NULL:EXPORT:@SECLEVEL=0');
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /handshake failure|no cipher|alert/i);
  });
});

describe('sslscan', { skip: skipWithout('sslscan') }, () => {
  test('only TLS 1.2/1.3, no weak cipher, not vulnerable to heartbleed', { timeout: 60_000 }, async () => {
    const r = await runToExit(peerPath('sslscan'), ['--no-colour', `127.0.0.1:${port}`], 50_000);
    assert.equal(r.code, 0, r.out);
    for (const v of ['SSLv2', 'SSLv3', 'TLSv1.0', 'TLSv1.1']) assert.match(r.out, new RegExp(`^${v.replace('.', '\\.')}\\s+disabled`, 'm'));
    for (const v of ['TLSv1.2', 'TLSv1.3']) assert.match(r.out, new RegExp(`^${v.replace('.', '\\.')}\\s+enabled`, 'm'));
    const heartbleed = r.out.split('\n').filter((l) => /^TLSv\S+ .*heartbleed/.test(l));
    assert.ok(heartbleed.length > 0 && heartbleed.every((l) => /not vulnerable/.test(l)), heartbleed.join('\n'));
    assert.doesNotMatch(r.out, /Insecure session renegotiation supported/);
    const accepted = r.out.split('\n').filter((l) => /^(Preferred|Accepted)\s/.test(l));
    assert.ok(accepted.length > 0, r.out);
    const weak = accepted.filter((l) => {
      const bits = Number(/\s(\d+) bits/.exec(l)?.[1] ?? 0);
      return bits < 128 || /RC4|3DES|DES-CBC|NULL|EXP|MD5|anon|ADH|AECDH|PSK/.test(l);
    });
    assert.deepEqual(weak, [], 'no weak cipher accepted');
  });
});
