/**
 * @module spec/process/messages
 * The primary takes from a worker only events of a known type with that type's shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWorkerEvent } from '../../lib/process/messages';

test('well-formed events of every type pass', () => {
  for (const event of [
    { event: 'waiting' }, { event: 'ready' }, { event: 'failed', lines: ['Cannot open log file: /x'] },
    { event: 'reloaded', failure: null }, { event: 'reloaded', failure: ['bad'] },
    { event: 'connections', list: [{ service: 's', id: '1.3', sentToTls: 10, sentToSocket: 0 }] },
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
