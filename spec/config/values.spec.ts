/**
 * @module spec/config/values
 * Value parsers and stunnel's texts for bad values.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:crypto';
import {
  ValueError, parseAddress, parseDebug, parseGroup, parseInteger, parseSocketOption, parseTicketSecret,
  parseTlsOption, parseTlsVersion, parseUser, parseYesNo,
} from '../../lib/config/values';
import { TLS_OPTIONS } from '../../lib/config/tls-options';

const fails = (fn: () => unknown, message: string) => assert.throws(fn, (e) => e instanceof ValueError && e.message === message);

describe('values', () => {
  test('yes/no, case-insensitive', () => {
    assert.equal(parseYesNo('YES'), true);
    assert.equal(parseYesNo('No'), false);
    fails(() => parseYesNo('maybe'), "The argument needs to be either 'yes' or 'no'");
  });

  test('integers as strtol reads them: sign ok, trailing text not', () => {
    assert.equal(parseInteger('-5', 'bad'), -5);
    fails(() => parseInteger('10s', 'Illegal idle timeout'), 'Illegal idle timeout');
    fails(() => parseInteger('', 'bad'), 'bad');
  });

  test('addresses: host:port, [v6]:port, :::port, bare port, unix path, service names, port 0', () => {
    assert.deepEqual(parseAddress('127.0.0.1:443'), { kind: 'inet', host: '127.0.0.1', port: 443, text: '127.0.0.1:443' });
    assert.deepEqual(parseAddress('[::1]:8443'), { kind: 'inet', host: '::1', port: 8443, text: '[::1]:8443' });
    assert.deepEqual(parseAddress(':::443'), { kind: 'inet', host: '::', port: 443, text: ':::443' });
    assert.deepEqual(parseAddress('8080'), { kind: 'inet', host: null, port: 8080, text: '8080' });
    assert.deepEqual(parseAddress('/run/x.sock'), { kind: 'unix', path: '/run/x.sock', text: '/run/x.sock' });
    assert.equal((parseAddress('localhost:https') as { port: number }).port, 443);
    assert.equal((parseAddress('127.0.0.1:0') as { port: number }).port, 0);
    fails(() => parseAddress('127.0.0.1:17001 ; c'), 'Unknown TCP service "17001 ; c"');
    fails(() => parseAddress('70000'), 'Unknown TCP service "70000"');
  });

  test('debug levels: names, digits, facility only globally', () => {
    assert.deepEqual(parseDebug('info', false), { facility: null, level: 6 });
    assert.deepEqual(parseDebug('LOCAL7.Debug', true), { facility: 'local7', level: 7 });
    fails(() => parseDebug('9', true), 'Illegal debug level');
    fails(() => parseDebug('local0.info', false), 'Illegal debug level');
    fails(() => parseDebug('7 # x. y', true), 'Illegal syslog facility');
  });

  test('TLS versions and options', () => {
    assert.equal(parseTlsVersion('tlsv1.2'), 'TLSv1.2');
    assert.equal(parseTlsVersion('All'), null);
    fails(() => parseTlsVersion('SSLv23'), 'Invalid protocol version');
    assert.deepEqual(parseTlsOption('no_sslv3'), { name: 'NO_SSLv3', clear: false });
    assert.deepEqual(parseTlsOption('-NO_TICKET'), { name: 'NO_TICKET', clear: true });
    fails(() => parseTlsOption('NO_TLSv1.1'), 'Illegal TLS option');
  });

  test('every TLS option bit that Node exports agrees with Node', () => {
    const node = constants as unknown as Record<string, number>;
    for (const row of TLS_OPTIONS) {
      const known = node[`SSL_OP_${row.name}`];
      if (known !== undefined) assert.equal(row.bits, known, row.name);
    }
  });

  test('socket options: a|l|r, case-sensitive names, value kinds', () => {
    assert.deepEqual(parseSocketOption('l:TCP_NODELAY=1'), { target: 'l', name: 'TCP_NODELAY', value: 1 });
    assert.deepEqual(parseSocketOption('a:SO_KEEPALIVE=yes'), { target: 'a', name: 'SO_KEEPALIVE', value: 1 });
    assert.deepEqual(parseSocketOption('r:SO_LINGER=1:0'), { target: 'r', name: 'SO_LINGER', value: [1, 0] });
    assert.deepEqual(parseSocketOption('a:SO_BINDTODEVICE=lo'), { target: 'a', name: 'SO_BINDTODEVICE', value: 'lo' });
    for (const bad of ['x:SO_KEEPALIVE=1', 'a:so_keepalive=1', 'a:SO_KEEPALIVE=maybe', 'r:SO_LINGER=1']) {
      fails(() => parseSocketOption(bad), 'Illegal socket option');
    }
  });

  test('users and groups by name or number', () => {
    assert.equal(parseUser('root'), 0);
    assert.equal(parseUser('1234'), 1234);
    assert.equal(parseGroup('root'), 0);
    fails(() => parseUser('no-such-user-x'), 'Illegal UID');
    fails(() => parseGroup('no-such-group-x'), 'Illegal GID');
  });

  test('ticket secrets: hex with optional colons, 16 or 32 bytes', () => {
    assert.equal(parseTicketSecret('00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff', 'ticketKeySecret').length, 16);
    assert.throws(() => parseTicketSecret('00', 'ticketKeySecret'), (e) => e instanceof ValueError &&
      e.message === 'Failed to read ticketKeySecret' &&
      e.details[0] === 'ticketKeySecret value has 1 bytes instead of required 16 or 32 bytes');
  });
});
