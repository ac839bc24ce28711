/**
 * OCSP options in the table: `OCSP`, `OCSPaia`, `OCSPnonce`, `OCSPflag` load into
 * ServiceConfig.tls.ocsp without a notice (they are enforced, tls/ocsp); flags OR together
 * and are inherited from the global part; an unknown flag is stunnel's error with file:line.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/config/load';
import { ConfigError } from '../../lib/errors';
import { pki } from '../helpers/pki';

const p = pki();

describe('OCSP options', () => {
  test('they load, OR their flags, inherit from the global part, and log no notice', () => {
    const c = loadConfigText([
      `cert = ${p.serverCombined}`, `CAfile = ${p.caFile}`, 'verifyChain = yes', 'OCSPflag = NOCERTS',
      '[a]', 'accept = 127.0.0.1:0', 'connect = 127.0.0.1:1', 'OCSP = http://127.0.6.1:8080/ocsp',
      'OCSPaia = yes', 'OCSPnonce = yes', 'OCSPflag = NOVERIFY', 'OCSPflag = notime', 'OCSPflag = NOVERIFY',
      '[b]', 'accept = 127.0.0.1:0', 'connect = 127.0.0.1:2',
    ].join('\n'), '/c.conf');
    const [a, b] = c.services;
    assert.deepEqual(a.tls.ocsp, { url: 'http://127.0.6.1:8080/ocsp', aia: true, nonce: true, flags: ['NOCERTS', 'NOVERIFY', 'NOTIME'] });
    assert.deepEqual(b.tls.ocsp, { url: null, aia: false, nonce: false, flags: ['NOCERTS'] });
    assert.deepEqual(c.notices.filter((n) => /OCSP/.test(n.text)), []);
  });

  test('an unknown flag is refused with file:line', () => {
    assert.throws(() => loadConfigText(`cert = ${p.serverCombined}\n[a]\naccept = 0\nconnect = 1\nOCSPflag = NOSUCH\n`, '/c.conf'),
      (err: unknown) => err instanceof ConfigError && err.messages.includes('/c.conf:5: "OCSPflag = NOSUCH": Illegal OCSP flag'));
  });
});
