/**
 * @module spec/config/fleet-options
 * The fleet extensions in the table: `TIMEOUTdrain` (global), `acceptProxy` and `proxyVersion`
 * (service): defaults that keep stunnel's behaviour, values, refusals with file:line, and the
 * `-test` lint warning about acceptProxy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/config/load';
import { lintConfig } from '../../lib/lint';
import { configErrors } from '../helpers/config';
import { pki } from '../helpers/pki';

const p = pki();
const section = (extra: string) => `[web]\naccept = 127.0.2.1:0\nconnect = 127.0.0.1:8080\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n${extra}`;
const errorsOf = configErrors;

test('defaults: no drain, no PROXY header read, v1 sent', () => {
  const c = loadConfigText(section(''), '/c.conf');
  assert.equal(c.global.drainTimeout, 0);
  assert.equal(c.services[0].acceptProxy, false);
  assert.equal(c.services[0].proxyVersion, 1);
  assert.deepEqual(lintConfig(c).filter((f) => f.text.includes('acceptProxy')), []);
});

test('values are read; acceptProxy in the global part is every section\'s default', () => {
  const c = loadConfigText(`TIMEOUTdrain = 45\nacceptProxy = yes\n${section('protocol = proxy\nproxyVersion = 2\n')}`, '/c.conf');
  assert.equal(c.global.drainTimeout, 45);
  assert.equal(c.services[0].acceptProxy, true);
  assert.equal(c.services[0].proxyVersion, 2);
  const warning = lintConfig(c).find((f) => f.text === 'acceptProxy = yes');
  assert.match(warning?.reason ?? '', /anyone who can reach this accept address can claim any client address/);
});

test('refusals name file, line and option', () => {
  assert.deepEqual(errorsOf(`TIMEOUTdrain = -1\n${section('')}`), ['/c.conf:1: "TIMEOUTdrain = -1": Illegal drain timeout']);
  assert.deepEqual(errorsOf(section('proxyVersion = 3\n')), ['/c.conf:6: "proxyVersion = 3": Illegal PROXY protocol version: use 1 or 2']);
  assert.deepEqual(errorsOf(section('proxyVersion = 2\n')), ['/c.conf:6: "proxyVersion = 2": \'proxyVersion = 2\' needs \'protocol = proxy\'']);
  assert.deepEqual(errorsOf(`[web]\nTIMEOUTdrain = 5\naccept = 1\nconnect = 2\ncert = ${p.serverCert}\n`)[0],
    '/c.conf:2: "TIMEOUTdrain = 5": Specified option name is not valid here');
  const inetd = errorsOf(`acceptProxy = yes\nconnect = 127.0.0.1:1\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`);
  assert.match(inetd[0], /^\/c\.conf:1: "acceptProxy = yes": Not supported by stunnel-ts: 'acceptProxy' reads the header on a service's 'accept'/);
});
