/**
 * @module spec/process/sessionshare
 * The primary's copy of the workers' sessions: one cache per server service with sessionResume,
 * bounded by its sessionCacheSize; a session of any other service is refused; a new worker gets
 * what is kept, oldest first. A worker's side: its caches report their sessions and adopt the
 * primary's by service name. Sessions travel in batches: one per event-loop turn, bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../lib/engine/engine';
import { MAX_SESSION_BATCH, type SharedSession } from '../../lib/process/messages';
import { adoptSessions, Batches, offerSessions, SessionCopies } from '../../lib/process/sessionshare';
import { pki } from '../helpers/pki';
import { configFrom, MemoryLog } from '../helpers/config';

const p = pki();
const CONF = `
  [small]
  accept = 127.0.0.1:0
  connect = 9
  cert = ${p.serverCert}
  key = ${p.serverKey}
  sessionCacheSize = 2
  [off]
  accept = 127.0.0.1:0
  connect = 9
  cert = ${p.serverCert}
  key = ${p.serverKey}
  sessionResume = no
  [out]
  client = yes
  accept = 127.0.0.1:0
  connect = 9
`;

const session = (service: string, id: string): SharedSession => ({ service, id, data: 'AAAA' });

const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('the primary keeps sessions of server services with a cache, bounded, and hands them on oldest first', () => {
  const copies = new SessionCopies(configFrom(CONF));
  assert.equal(copies.store(session('small', '01')), true);
  assert.equal(copies.store(session('small', '02')), true);
  assert.equal(copies.store(session('small', '03')), true);
  for (const service of ['off', 'out', 'nosuch', '__proto__']) assert.equal(copies.store(session(service, '04')), false, service);
  assert.deepEqual([...copies.all()], [session('small', '02'), session('small', '03')]);
  assert.deepEqual([...new SessionCopies(null).all()], []);
});

test('a worker reports the sessions its caches store and adopts those of the others', async () => {
  const prepared = new Engine(new MemoryLog()).prepare(configFrom(CONF));
  const sent: Array<readonly SharedSession[]> = [];
  offerSessions(prepared, new Batches((list) => sent.push(list)));
  const caches = new Map([...prepared.services.values()].map((s) => [s.config.name, s.tls.serverSessions]));
  assert.equal(caches.get('off'), null);
  assert.equal(caches.get('out'), null);
  const small = caches.get('small')!;
  small.onStored?.(Buffer.from('0a0b', 'hex'), Buffer.from('session'));
  await turnEnd();
  assert.deepEqual(sent, [[{ service: 'small', id: '0a0b', data: Buffer.from('session').toString('base64') }]]);

  adoptSessions(prepared, [{ service: 'small', id: 'ff', data: Buffer.from('theirs').toString('base64') }, session('gone', 'ee')]);
  assert.deepEqual(small.sessions.get('ff'), Buffer.from('theirs'));
  assert.equal(sent.length, 1);
});

test('Batches delivers what one turn collected in one list, and at most MAX_SESSION_BATCH at once', async () => {
  const delivered: Array<readonly SharedSession[]> = [];
  const batches = new Batches((list) => delivered.push(list));
  batches.add(session('s', '01'));
  batches.add(session('s', '02'));
  assert.equal(delivered.length, 0);
  await turnEnd();
  assert.deepEqual(delivered, [[session('s', '01'), session('s', '02')]]);
  delivered.length = 0;
  for (let i = 0; i < MAX_SESSION_BATCH + 1; i++) batches.add(session('s', i.toString(16).padStart(2, '0')));
  assert.deepEqual(delivered.map((list) => list.length), [MAX_SESSION_BATCH]);
  await turnEnd();
  assert.deepEqual(delivered.map((list) => list.length), [MAX_SESSION_BATCH, 1]);
  await turnEnd();
  assert.equal(delivered.length, 2);
});
