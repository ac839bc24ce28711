/**
 * Which destinations a SOCKS client may not reach: every spelling of the host itself (loopback,
 * unspecified, IPv4-mapped and IPv4-compatible forms), named as in stunnel's refusal line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forbidden, ipBytes } from '../../lib/engine/socks-forbidden';

test('the IPv4 loopback and unspecified ranges, in every IPv6 spelling the kernel takes', () => {
  const cases: Array<[string, string]> = [
    ['127.0.0.1', 'IPv4 loopback'],
    ['127.255.3.4', 'IPv4 loopback'],
    ['::ffff:127.0.0.1', 'IPv4 loopback'],
    ['::ffff:7f00:1', 'IPv4 loopback'],
    ['::127.0.0.1', 'IPv4 loopback'],
    ['0.0.0.0', 'IPv4 unspecified address'],
    ['0.1.2.3', 'IPv4 unspecified address'],
    ['::ffff:0.0.0.0', 'IPv4 unspecified address'],
    ['::1', 'IPv6 loopback'],
    ['0:0:0:0:0:0:0:1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified address'],
    ['0:0:0:0:0:0:0:0', 'IPv6 unspecified address'],
    ['::1%lo', 'IPv6 loopback'],
    ['::ffff:127.0.0.1%1', 'IPv4 loopback'],
  ];
  for (const [ip, why] of cases) assert.equal(forbidden(ip), why, ip);
});

test('other hosts may be reached, mapped or not', () => {
  for (const ip of ['10.77.0.1', '1.0.0.0', '126.255.255.255', '128.0.0.1', '::ffff:10.0.0.1', '::2:0:0:1', '::1:0:0:0:1', '2001:db8::1', 'fe80::1', 'fe80::1%eth0', '::ffff:1:7f00:1']) {
    assert.equal(forbidden(ip), null, ip);
  }
});

test('address bytes: 4 for IPv4, 16 for IPv6 in any spelling', () => {
  assert.equal(ipBytes('10.77.0.1').toString('hex'), '0a4d0001');
  assert.equal(ipBytes('::ffff:127.0.0.1').toString('hex'), '00000000000000000000ffff7f000001');
  assert.equal(ipBytes('2001:db8::1').toString('hex'), '20010db8000000000000000000000001');
});
