/**
 * @module spec/process/bindguard
 * What the workers' primary grants: the `accept` addresses of the configuration, names
 * resolved as the workers' listen() resolves them, Unix paths as written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { grantedBinds } from '../../lib/process/bindguard';
import { configFrom } from '../helpers/config';

test('accept addresses, a wildcard, a name and a Unix path become the granted keys', async () => {
  const config = configFrom(`
    client = yes
    [a]
    accept = 127.0.0.1:4430
    connect = 9
    [b]
    accept = 8443
    connect = 9
    [c]
    accept = localhost:0
    connect = 9
    [d]
    accept = /run/stunnel-ts-spec.sock
    connect = 9
  `);
  const localhost = (await lookup('localhost', { all: true })).map((a) => `inet:${a.address}:0`);
  assert.deepEqual([...await grantedBinds(config)].sort(),
    ['inet:127.0.0.1:4430', 'inet:0.0.0.0:8443', ...localhost, 'unix:/run/stunnel-ts-spec.sock'].sort());
});
