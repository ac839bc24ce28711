/**
 * @module spec/config/build
 * Lines + table → Config: inheritance, scope, inetd mode, end-of-section checks,
 * file checks, notices, every error collected with file:line.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/config/load';
import { OPTIONS, optionByName } from '../../lib/config/options';
import { configErrors } from '../helpers/config';
import { pki } from '../helpers/pki';

const p = pki();
const errorsOf = configErrors;

describe('build', () => {
  test('global service options are defaults; scalars overridden, lists appended', () => {
    const c = loadConfigText([
      `cert = ${p.serverCombined}`, 'connect = 127.0.0.1:1', 'options = NO_TICKET', 'TIMEOUTidle = 5',
      '[a]', 'accept = 127.0.0.1:0', 'connect = 127.0.0.1:2', 'TIMEOUTidle = 7',
      '[b]', 'accept = 127.0.0.1:0', 'CLIENT = YES',
    ].join('\n'), '/c.conf');
    const [a, b] = c.services;
    assert.deepEqual(a.connect.map((x) => x.text), ['127.0.0.1:1', '127.0.0.1:2']);
    assert.equal(a.timeouts.idle, 7);
    assert.equal(b.timeouts.idle, 5);
    assert.equal(b.client, true);
    assert.deepEqual(a.tls.optionsSet, ['NO_SSLv2', 'NO_SSLv3', 'NO_TICKET']);
    assert.equal(a.tls.key, p.serverCombined);
    assert.equal(c.inetd, null);
    assert.ok(Object.isFrozen(a.connect));
  });

  test('duplicate and odd section names all run', () => {
    const c = loadConfigText(`cert = ${p.serverCombined}\nconnect = 1\n[ s v ]\naccept = 0\n[ s v ]\naccept = 0\n[]\naccept = 0\n`, '/c.conf');
    assert.deepEqual(c.services.map((s) => s.name), [' s v ', ' s v ', '']);
  });

  test('global-only options after the first section are not valid there', () => {
    assert.deepEqual(errorsOf(`[s]\ncert = ${p.serverCombined}\naccept = 0\nconnect = 1\npid = /x.pid\n`),
      ['/c.conf:5: "pid = /x.pid": Specified option name is not valid here']);
  });

  test('every error is collected, in the order stunnel meets them', () => {
    assert.deepEqual(errorsOf(`debug = 9\n[a]\naccept = 0\nconnect = 1\nclient = maybe\n[b]\nconnect = 1\ncert = ${p.serverCombined}\n`), [
      '/c.conf:1: "debug = 9": Illegal debug level',
      '/c.conf:5: "client = maybe": The argument needs to be either \'yes\' or \'no\'',
      'Service [b]: Each service must define two endpoints',
    ]);
  });

  test('no section is inetd mode', () => {
    const c = loadConfigText(`service = inetd\ncert = ${p.serverCombined}\nconnect = 127.0.0.1:1\n`, '/c.conf');
    assert.equal(c.services.length, 0);
    assert.equal(c.inetd?.name, 'inetd');
    assert.deepEqual(errorsOf(`cert = ${p.serverCombined}\naccept = 1\nconnect = 2\n`), ["Inetd mode: 'accept' option is only allowed in a [section]"]);
  });

  test('named files must exist; the message names the line that set them', () => {
    assert.deepEqual(errorsOf('cert = /nonexistent.pem\n[s]\naccept = 0\nconnect = 1\n'), [
      '/c.conf:1: "cert = /nonexistent.pem": /nonexistent.pem: No such file or directory (2)',
      'Service [s]: Failed to initialize TLS context',
    ]);
  });

  test('verify = N folds into the verify policy; verification needs a CA', () => {
    const c = loadConfigText(`[s]\nclient = yes\naccept = 0\nconnect = 1\nverify = 2\nCAfile = ${p.caFile}\ncheckHost = localhost\n`, '/c.conf');
    assert.deepEqual(c.services[0].tls.verify, { request: true, require: true, chain: true, peer: false });
    assert.deepEqual(errorsOf('[s]\nclient = yes\naccept = 0\nconnect = 1\nverifyChain = yes\n'),
      ['Service [s]: Either "CAengine", "CAfile" or "CApath" has to be configured']);
  });

  test('notices: no trusted certificates, MITM, accepted-but-meaningless options', () => {
    const c = loadConfigText('stack = 65536\n[s]\nclient = yes\naccept = 0\nconnect = 1\n', '/c.conf');
    const texts = c.notices.map((n) => `${n.level} ${n.text}`);
    assert.ok(texts.includes('3 No trusted certificates found'));
    assert.ok(texts.includes('4 Service [s] needs authentication to prevent MITM attacks'));
    assert.ok(texts.includes('5 /c.conf:1: "stack = 65536": ignored: Node.js manages its own thread stacks'));
  });

  test('pty = yes is refused by name (no pseudo terminal), pty = no loads', () => {
    const base = `[s]\ncert = ${p.serverCombined}\naccept = 0\nexec = /bin/cat\n`;
    assert.deepEqual(errorsOf(`${base}pty = yes\n`),
      ["/c.conf:5: \"pty = yes\": Not supported by stunnel-ts: a pseudo terminal for 'exec' is not implemented; the program gets pipes"]);
    assert.equal(loadConfigText(`${base}pty = no\n`, '/c.conf').services.length, 1);
  });

  test('protocol: proxy, socks, smtp, pop3, imap, pgsql (server), smtp/pop3/imap/pgsql/connect (client) supported, other known refused with the reason, unknown as stunnel', () => {
    const base = `[s]\ncert = ${p.serverCombined}\naccept = 0\nconnect = 1\n`;
    for (const protocol of ['proxy', 'smtp', 'pop3', 'imap', 'pgsql']) {
      assert.equal(loadConfigText(`${base}protocol = ${protocol}\n`, '/c.conf').services[0].protocol, protocol);
    }
    for (const protocol of ['smtp', 'pop3', 'imap', 'connect', 'pgsql']) {
      assert.equal(loadConfigText(`${base}client = yes\nprotocol = ${protocol}\n`, '/c.conf').services[0].protocol, protocol);
    }
    assert.deepEqual(errorsOf(`${base}protocol = connect\n`),
      ["Service [s]: Not supported by stunnel-ts: the 'connect' protocol in server mode (client mode is)"]);
    assert.equal(loadConfigText(`[s]\ncert = ${p.serverCombined}\naccept = 0\nprotocol = socks\n`, '/c.conf').services[0].protocol, 'socks');
    assert.deepEqual(errorsOf(`${base}client = yes\nprotocol = socks\n`),
      ["Service [s]: Not supported by stunnel-ts: the 'socks' protocol in client mode (server mode is)"]);
    assert.deepEqual(errorsOf(`${base}client = yes\nprotocol = smtp\nprotocolUsername = u\nprotocolPassword = p\n`),
      ['Service [s]: Not supported by stunnel-ts: SMTP authentication by the tunnel (protocolUsername, protocolPassword); let the mail client log in']);
    assert.deepEqual(errorsOf(base + 'protocol = cifs\n'),
      ['/c.conf:5: "protocol = cifs": Not supported by stunnel-ts: the \'cifs\' protocol negotiation is not implemented; only \'proxy\', \'socks\', \'smtp\', \'pop3\', \'imap\', \'pgsql\', and \'connect\', \'nntp\', \'ldap\' in client mode are']);
    for (const protocol of ['nntp', 'ldap']) {
      assert.equal(loadConfigText(`${base}client = yes\nprotocol = ${protocol}\n`, '/c.conf').services[0].protocol, protocol);
      assert.deepEqual(errorsOf(`${base}protocol = ${protocol}\n`), [`Service [s]: The '${protocol}' protocol is not supported in the server mode`]);
    }
    assert.deepEqual(errorsOf(base + 'protocol = gopher\n'), ['Service [s]: Protocol not supported']);
  });

  test('aliases and workers', () => {
    assert.equal(optionByName('session'), optionByName('sessionCacheTimeout'));
    assert.equal(optionByName('CURVE'), optionByName('curves'));
    const c = loadConfigText(`workers = 3\nsession = 60\n[s]\ncert = ${p.serverCombined}\naccept = 0\nconnect = 1\n`, '/c.conf');
    assert.equal(c.global.workers, 3);
    assert.equal(c.services[0].tls.sessionCacheTimeout, 60);
    assert.ok(loadConfigText(`workers = auto\ncert = ${p.serverCombined}\nconnect = 1\n`, '/c.conf').global.workers >= 1);
  });

  test('the table has one row per name', () => {
    const names = OPTIONS.flatMap((r) => [r.name, ...r.aliases].map((n) => n.toLowerCase()));
    assert.equal(new Set(names).size, names.length);
  });
});
