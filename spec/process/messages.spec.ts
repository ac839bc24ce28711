/**
 * @module spec/process/messages
 * The primary takes from a worker only events of a known type with that type's shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWorkerEvent, MAX_SESSION_BATCH, MAX_SESSION_BYTES } from '../../lib/process/messages';

const ID = 'ab'.repeat(32);
const DATA = Buffer.from('a session').toString('base64');

test('well-formed events of every type pass', () => {
  for (const event of [
    { event: 'waiting' }, { event: 'ready' }, { event: 'failed', lines: ['Cannot open log file: /x'] },
    { event: 'reloaded', failure: null }, { event: 'reloaded', failure: ['bad'] },
    { event: 'connections', list: [{ service: 's', id: '1.3', sentToTls: 10, sentToSocket: 0 }] },
    { event: 'sessions', list: [{ service: 's', id: ID, data: DATA }, { service: 's', id: '00', data: 'AAAA' }] },
    { event: 'sessions', list: [{ service: 's', id: ID, data: Buffer.alloc(MAX_SESSION_BYTES).toString('base64') }] },
    { event: 'sessions', list: Array.from({ length: MAX_SESSION_BATCH }, () => ({ service: 's', id: ID, data: DATA })) },
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

test('a sessions event needs 1..MAX_SESSION_BATCH sessions, each with a service name, an id of 1..32 bytes in hex and base64 data of at most 16 KiB', () => {
  const bad: unknown[] = [
    {}, null, 'x', { id: ID, data: DATA }, { service: 7, id: ID, data: DATA },
    { service: 's', id: '', data: DATA }, { service: 's', id: 'abc', data: DATA },
    { service: 's', id: 'AB', data: DATA }, { service: 's', id: 'zz', data: DATA },
    { service: 's', id: 'ab'.repeat(33), data: DATA }, { service: 's', id: 171, data: DATA },
    { service: 's', id: ID }, { service: 's', id: ID, data: '' },
    { service: 's', id: ID, data: 'not base64!' }, { service: 's', id: ID, data: 'AAA' },
    { service: 's', id: ID, data: 'A=AA' }, { service: 's', id: ID, data: ['AAAA'] },
    { service: 's', id: ID, data: Buffer.alloc(MAX_SESSION_BYTES + 3).toString('base64') },
  ];
  const good = { service: 's', id: ID, data: DATA };
  for (const message of [
    { event: 'sessions' }, { event: 'sessions', list: [] }, { event: 'sessions', list: good },
    { event: 'sessions', list: Array.from({ length: MAX_SESSION_BATCH + 1 }, () => good) },
    ...bad.map((entry) => ({ event: 'sessions', list: [good, entry] })),
  ]) assert.equal(isWorkerEvent(message), false, JSON.stringify(message).slice(0, 200));
});
