/**
 * The options of the metrics slice (stunnel-ts extensions, global only, off by default):
 * `metrics = [HOST:]PORT` and `logFormat = text|json`, with stunnel-shaped refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/config/load';
import { configErrors } from '../helpers/config';
import { pki } from '../helpers/pki';

const p = pki();
const SERVICE = `[s]\ncert = ${p.serverCombined}\naccept = 0\nconnect = 1\n`;

const errorsOf = configErrors;

test('off by default', () => {
  const c = loadConfigText(SERVICE, '/c.conf');
  assert.equal(c.global.metrics, null);
  assert.equal(c.global.logFormat, 'text');
});

test('metrics: a bare port means 127.0.0.1 (host left null), HOST:PORT kept', () => {
  assert.deepEqual(loadConfigText(`metrics = 9591\n${SERVICE}`, '/c.conf').global.metrics, { kind: 'inet', host: null, port: 9591, text: '9591' });
  assert.equal(loadConfigText(`metrics = 0.0.0.0:0\n${SERVICE}`, '/c.conf').global.metrics?.host, '0.0.0.0');
});

test('metrics: refused as a Unix socket, a bad port, or in a section', () => {
  assert.match(errorsOf(`metrics = /run/m.sock\n${SERVICE}`)[0], /^\/c\.conf:1: "metrics = \/run\/m\.sock": The metrics endpoint needs \[host:\]port, not a Unix socket$/);
  assert.match(errorsOf(`metrics = 127.0.0.1:nope\n${SERVICE}`)[0], /^\/c\.conf:1: "metrics = 127\.0\.0\.1:nope": Unknown TCP service "nope"$/);
  assert.match(errorsOf(`${SERVICE}metrics = 9591\n`)[0], /^\/c\.conf:5: "metrics = 9591"/);
});

test('logFormat: text or json, nothing else', () => {
  assert.equal(loadConfigText(`logFormat = json\n${SERVICE}`, '/c.conf').global.logFormat, 'json');
  assert.match(errorsOf(`logFormat = xml\n${SERVICE}`)[0], /^\/c\.conf:1: "logFormat = xml": The argument needs to be either 'text' or 'json'$/);
});
