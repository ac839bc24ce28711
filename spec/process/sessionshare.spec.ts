/**
 * @module spec/process/sessionshare
 * The primary's copy of the workers' sessions: one cache per server service with sessionResume,
 * bounded by its sessionCacheSize; a session of any other service is refused; a new worker gets
 * what is kept, oldest first. A worker's side: its caches report their sessions as events and
 * adopt the primary's commands by service name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../lib/engine/engine';
import type { SharedSession } from '../../lib/process/messages';
import { adoptSession, offerSessions, SessionCopies } from '../../lib/process/sessionshare';
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

const event = (service: string, id: string): SharedSession<'event'> => ({ event: 'session', service, id, data: 'AAAA' });

test('the primary keeps sessions of server services with a cache, bounded, and replays them oldest first', () => {
  const copies = new SessionCopies(configFrom(CONF));
  assert.equal(copies.store(event('small', '01')), true);
  assert.equal(copies.store(event('small', '02')), true);
  assert.equal(copies.store(event('small', '03')), true);
  for (const service of ['off', 'out', 'nosuch', '__proto__']) assert.equal(copies.store(event(service, '04')), false, service);
  assert.deepEqual([...copies.commands()], [
    { cmd: 'session', service: 'small', id: '02', data: 'AAAA' }, { cmd: 'session', service: 'small', id: '03', data: 'AAAA' },
  ]);
  assert.deepEqual([...new SessionCopies(null).commands()], []);
});

test('a worker reports the sessions its caches store and adopts those of the others', () => {
  const prepared = new Engine(new MemoryLog()).prepare(configFrom(CONF));
  const sent: SharedSession<'event'>[] = [];
  offerSessions(prepared, (e) => sent.push(e));
  const caches = new Map([...prepared.services.values()].map((s) => [s.config.name, s.tls.serverSessions]));
  assert.equal(caches.get('off'), null);
  assert.equal(caches.get('out'), null);
  const small = caches.get('small')!;
  small.onStored?.(Buffer.from('0a0b', 'hex'), Buffer.from('session'));
  assert.deepEqual(sent, [{ event: 'session', service: 'small', id: '0a0b', data: Buffer.from('session').toString('base64') }]);

  adoptSession(prepared, { cmd: 'session', service: 'small', id: 'ff', data: Buffer.from('theirs').toString('base64') });
  adoptSession(prepared, { cmd: 'session', service: 'gone', id: 'ee', data: 'AAAA' });
  assert.deepEqual(small.sessions.get('ff'), Buffer.from('theirs'));
  assert.equal(sent.length, 1);
});
