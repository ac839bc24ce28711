/**
 * @module spec/process/messages
 * The primary takes from a worker only events of a known type with that type's shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWorkerEvent, MAX_SESSION_BYTES } from '../../lib/process/messages';

const ID = 'ab'.repeat(32);
const DATA = Buffer.from('a session').toString('base64');

test('well-formed events of every type pass', () => {
  for (const event of [
    { event: 'waiting' }, { event: 'ready' }, { event: 'failed', lines: ['Cannot open log file: /x'] },
    { event: 'reloaded', failure: null }, { event: 'reloaded', failure: ['bad'] },
    { event: 'connections', list: [{ service: 's', id: '1.3', sentToTls: 10, sentToSocket: 0 }] },
    { event: 'session', service: 's', id: ID, data: DATA }, { event: 'session', service: 's', id: '00', data: 'AAAA' },
    { event: 'session', service: 's', id: ID, data: Buffer.alloc(MAX_SESSION_BYTES).toString('base64') },
  ]) assert.equal(isWorkerEvent(event), true, JSON.stringify(event));
});

test('unknown types, inherited names and wrong shapes are refused', () => {
  for (const message of [
    null, 'ready', ['ready'], {}, { event: 7 }, { event: 'queryServer' }, { event: 'toString' }, { event: '__proto__' },
    { event: 'failed' }, { event: 'failed', lines: 'x' }, { event: 'failed', lines: [1] },
    { event: 'reloaded' }, { event: 'reloaded', failure: [null] },
    { event: 'connections', list: 'x' }, { event: 'connections', list: [{ service: 's', id: '1', sentToTls: -1, sentToSocket: 0 }] },
    { event: 'connections', list: [{ service: 's', id: 1, sentToTls: 0, sentToSocket: 0 }] }, { event: 'connections', list: [null] },
  ]) assert.equal(isWorkerEvent(message), false, JSON.stringify(message));
});

test('a session event needs a service name, an id of 1..32 bytes in hex and base64 data of at most 16 KiB', () => {
  for (const message of [
    { event: 'session' }, { event: 'session', id: ID, data: DATA }, { event: 'session', service: 7, id: ID, data: DATA },
    { event: 'session', service: 's', id: '', data: DATA }, { event: 'session', service: 's', id: 'abc', data: DATA },
    { event: 'session', service: 's', id: 'AB', data: DATA }, { event: 'session', service: 's', id: 'zz', data: DATA },
    { event: 'session', service: 's', id: 'ab'.repeat(33), data: DATA }, { event: 'session', service: 's', id: 171, data: DATA },
    { event: 'session', service: 's', id: ID }, { event: 'session', service: 's', id: ID, data: '' },
    { event: 'session', service: 's', id: ID, data: 'not base64!' }, { event: 'session', service: 's', id: ID, data: 'AAA' },
    { event: 'session', service: 's', id: ID, data: 'A=AA' }, { event: 'session', service: 's', id: ID, data: ['AAAA'] },
    { event: 'session', service: 's', id: ID, data: Buffer.alloc(MAX_SESSION_BYTES + 3).toString('base64') },
  ]) assert.equal(isWorkerEvent(message), false, JSON.stringify(message).slice(0, 200));
});
