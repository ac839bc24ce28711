/**
 * @module spec/tls/sessions
 * The server-side session cache keeps the sessions a client can resume by id (TLS 1.2), not
 * the TLS 1.3 ticket sessions OpenSSL also hands over; it tells `onStored` of its own sessions
 * and not of adopted ones; BoundedCache forgets the oldest beyond its capacity. A session of
 * another session-id context (a worker's from before a reload that changed the verification
 * settings) is a cache miss for OpenSSL: a full handshake, not an error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants } from 'node:crypto';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { BoundedCache, ServerSessionCache, resumableById, sessionProtocol } from '../../lib/tls/sessions';
import { pki } from '../helpers/pki';

const p = pki();

interface Made {
  readonly id: Buffer;
  readonly data: Buffer;
}

/**
 * One connection at `version` to a Node TLS server without tickets, whose 'resumeSession'
 * answers `offer` for any id: the sessions it handed to 'newSession', and whether the
 * connection resumed `clientSession`.
 */
async function handshake(version: 'TLSv1.2' | 'TLSv1.3', context = 'spec', offer: Buffer | null = null, clientSession?: Buffer): Promise<{ made: Made[]; reused: boolean; client: Buffer | undefined }> {
  const made: Made[] = [];
  const server = createServer({
    cert: p.server.certPem, key: p.server.keyPem, secureOptions: constants.SSL_OP_NO_TICKET, sessionIdContext: context,
  }, (socket) => socket.end('x'));
  server.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
    made.push({ id, data });
    done();
  });
  server.on('resumeSession', (_id: Buffer, done: (err: null, data: Buffer | null) => void) => done(null, offer));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client: TLSSocket = connect({
    port: (server.address() as { port: number }).port, host: '127.0.0.1', rejectUnauthorized: false, maxVersion: version, session: clientSession,
  });
  client.on('data', () => undefined);
  await once(client, 'secureConnect');
  const [reused, session] = [client.isSessionReused(), client.getSession()];
  await once(client, 'close');
  server.close();
  return { made, reused, client: session };
}

async function sessionsOf(version: 'TLSv1.2' | 'TLSv1.3'): Promise<Made[]> {
  return (await handshake(version)).made;
}

test('sessionProtocol reads the version OpenSSL serialized; only TLS 1.2 sessions resume by id', async () => {
  const [tls12] = await sessionsOf('TLSv1.2');
  const tls13 = await sessionsOf('TLSv1.3');
  assert.equal(sessionProtocol(tls12.data), 0x0303);
  assert.equal(resumableById(tls12.data), true);
  assert.ok(tls13.length > 0);
  for (const { data } of tls13) {
    assert.equal(sessionProtocol(data), 0x0304);
    assert.equal(resumableById(data), false);
  }
  for (const bad of [Buffer.alloc(0), Buffer.from('3000', 'hex'), Buffer.from('30030201', 'hex'), Buffer.from('0401020304', 'hex')]) {
    assert.equal(sessionProtocol(bad), null, bad.toString('hex'));
    assert.equal(resumableById(bad), false);
  }
});

/** What Node does with the cache: 'newSession' (then waits for done), 'resumeSession' (answered through done). */
function newSession(cache: ServerSessionCache, id: Buffer, data: Buffer): void {
  let done = 0;
  cache.emit('newSession', id, data, () => done++);
  assert.equal(done, 1);
}

function resume(cache: ServerSessionCache, id: Buffer): Buffer | null {
  let answer: Buffer | null | undefined;
  cache.emit('resumeSession', id, (err: Error | null, data: Buffer | null) => {
    assert.equal(err, null);
    answer = data;
  });
  assert.notEqual(answer, undefined);
  return answer ?? null;
}

test('ServerSessionCache: keeps and reports TLS 1.2 sessions, skips TLS 1.3 ones, adopts silently', async () => {
  const [tls12] = await sessionsOf('TLSv1.2');
  const tls13 = await sessionsOf('TLSv1.3');
  const cache = new ServerSessionCache(10);
  const stored: string[] = [];
  cache.onStored = (id) => stored.push(id.toString('hex'));
  newSession(cache, tls12.id, tls12.data);
  for (const { id, data } of tls13) newSession(cache, id, data);
  assert.deepEqual(stored, [tls12.id.toString('hex')]);
  assert.equal(cache.sessions.size, 1);
  assert.deepEqual(resume(cache, tls12.id), tls12.data);
  assert.equal(resume(cache, tls13[0].id), null);

  const other = Buffer.alloc(32, 7);
  cache.adopt(other, tls12.data);
  assert.deepEqual(resume(cache, other), tls12.data);
  assert.equal(stored.length, 1);
});

test('BoundedCache forgets the least recently stored beyond its capacity; 0 is unlimited', () => {
  const bounded = new BoundedCache<number>(2);
  bounded.set('a', 1);
  bounded.set('b', 2);
  bounded.set('a', 3);
  bounded.set('c', 4);
  assert.deepEqual([...bounded.entries()], [['a', 3], ['c', 4]]);
  const unlimited = new BoundedCache<number>(0);
  for (let i = 0; i < 5000; i++) unlimited.set(String(i), i);
  assert.equal(unlimited.size, 5000);
});

test('a session of another session-id context is a miss: full handshake, no error', async () => {
  const first = await handshake('TLSv1.2', 'before');
  const [made] = first.made;
  const same = await handshake('TLSv1.2', 'before', made.data, first.client);
  assert.equal(same.reused, true);
  const other = await handshake('TLSv1.2', 'after', made.data, first.client);
  assert.equal(other.reused, false);
  assert.equal(other.made.length, 1);
});
