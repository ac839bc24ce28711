/**
 * The Tunnel's public surface is what the engine and its owner interfaces use (DialOwner,
 * RelayOwner, Speaker, ProxyHeaderOwner); the stream listeners and TLS callbacks reach its
 * private methods from inside the class (engine/tunnel), so they add nothing here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tunnel } from '../../lib/engine/tunnel';

test('Tunnel exposes only what the engine and the owner interfaces call', () => {
  const members = Object.getOwnPropertyNames(Tunnel.prototype).filter((n) => n !== 'constructor').sort();
  assert.deepEqual(members, [
    // engine
    'bufferedBytes', 'kill', 'sentToSocket', 'sentToTls', 'service', 'start',
    // DialOwner
    'descriptorShortage', 'dialed',
    // ProxyHeaderOwner
    'proxyHeaderRead', 'proxyHeaderRefused',
    // RelayOwner
    'relayDone',
    // Speaker
    'say', 'wants',
  ].sort());
  assert.deepEqual(Object.getOwnPropertySymbols(Tunnel.prototype), []);
  assert.deepEqual(Object.getOwnPropertyNames(Tunnel).sort(), ['length', 'name', 'prototype']);
});
