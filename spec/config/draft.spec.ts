/**
 * @module spec/config/draft
 * Drafts: fresh defaults each time, a section's copy shares no list or record with the global
 * part's draft, and a finished draft becomes its config without the draft-only fields.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cloneServiceDraft, deepCopy, DEFAULTS, newGlobalDraft, newServiceDraft, toGlobalConfig, toServiceConfig,
} from '../../lib/config/draft';
import { DEFAULT_TLS_OPTIONS } from '../../lib/config/tls-options';
import { DEFAULT_SOCKET_OPTIONS } from '../../lib/config/values';

const source = { file: '/c.conf', line: 3, text: '[s]' };
const computed = { name: 's', source, sniPrimary: null, sniPattern: null };

describe('draft', () => {
  test('a new service draft holds stunnel\'s defaults and shares nothing with the previous one', () => {
    const first = newServiceDraft();
    assert.equal(first.tls.ciphers, DEFAULTS.ciphers);
    assert.deepEqual({ ...first.timeouts }, DEFAULTS.timeouts);
    assert.deepEqual(first.tls.optionsSet, DEFAULT_TLS_OPTIONS);
    assert.deepEqual(first.socketOptions, DEFAULT_SOCKET_OPTIONS);
    first.tls.optionsSet.push('NO_TICKET');
    first.timeouts.idle = 1;
    first.tls.verify.chain = true;
    first.refs.cert = source;
    const second = newServiceDraft();
    assert.deepEqual(second.tls.optionsSet, DEFAULT_TLS_OPTIONS);
    assert.equal(second.timeouts.idle, DEFAULTS.timeouts.idle);
    assert.equal(second.tls.verify.chain, false);
    assert.deepEqual(second.refs, {});
  });

  test('a new global draft holds the defaults and a fresh refs record', () => {
    const g = newGlobalDraft();
    assert.equal(g.service, 'stunnel');
    assert.equal(g.foreground, 'no');
    g.refs.pid = source;
    assert.deepEqual(newGlobalDraft().refs, {});
  });

  test('a section\'s copy shares no list or record with the global part\'s draft; Buffers are shared', () => {
    const global = newServiceDraft();
    global.tls.ticketKeySecret = Buffer.alloc(16, 1);
    global.connect.push({ kind: 'inet', host: null, port: 1, text: '1' });
    global.protocolSettings.headers.push('X-A: 1');
    const section = cloneServiceDraft(global);
    assert.deepEqual(section, global);
    section.connect.push({ kind: 'inet', host: null, port: 2, text: '2' });
    section.protocolSettings.headers.push('X-B: 2');
    section.tls.ocsp.flags.push('NOCERTS');
    section.tls.verify.peer = true;
    section.refs.connect = source;
    assert.equal(global.connect.length, 1);
    assert.deepEqual(global.protocolSettings.headers, ['X-A: 1']);
    assert.deepEqual(global.tls.ocsp.flags, []);
    assert.equal(global.tls.verify.peer, false);
    assert.deepEqual(global.refs, {});
    assert.equal(section.tls.ticketKeySecret, global.tls.ticketKeySecret);
  });

  test('deepCopy copies arrays and plain objects, and keeps anything else', () => {
    const buffer = Buffer.from('k');
    const value = { list: [[1, 2], { a: 'x' }], buffer, none: null };
    const copy = deepCopy(value);
    assert.deepEqual(copy, value);
    assert.notEqual(copy.list, value.list);
    assert.notEqual(copy.list[0], value.list[0]);
    assert.notEqual(copy.list[1], value.list[1]);
    assert.equal(copy.buffer, buffer);
  });

  test('a service config has the draft\'s fields, the computed ones, and no draft-only field', () => {
    const d = newServiceDraft();
    d.tls.cert = '/cert.pem';
    d.sni = 'primary:*.example';
    d.refs.cert = source;
    const server = toServiceConfig(d, { ...computed, sniPrimary: 'primary', sniPattern: '*.example' });
    assert.equal(server.name, 's');
    assert.equal(server.source, source);
    assert.equal(server.sniPrimary, 'primary');
    assert.equal(server.sniPattern, '*.example');
    assert.equal(server.tls.key, '/cert.pem');
    assert.equal(server.tls.sni, null);
    for (const key of ['sni', 'transparent', 'refs']) assert.ok(!(key in server), key);
    const { name: _n, source: _s, sniPrimary: _p, sniPattern: _t, tls, ...copied } = server;
    const { sni: _i, transparent: _r, refs: _f, tls: draftTls, ...fromDraft } = d;
    assert.deepEqual(copied, fromDraft);
    assert.deepEqual(tls, { ...draftTls, key: '/cert.pem', sni: null });

    d.client = true;
    d.sni = 'name.example';
    d.tls.key = '/key.pem';
    const client = toServiceConfig(d, computed);
    assert.equal(client.tls.sni, 'name.example');
    assert.equal(client.tls.key, '/key.pem');
  });

  test('the global config is the global draft without its refs', () => {
    const g = newGlobalDraft();
    g.refs.pid = source;
    const config = toGlobalConfig(g);
    assert.ok(!('refs' in config));
    const { refs: _refs, ...rest } = g;
    assert.deepEqual(config, rest);
  });
});
