/**
 * The pre-relay reader over a real TCP connection: it reads only while a pull waits, so a peer
 * streaming while the parser is busy elsewhere (a SOCKS name lookup) is held by the kernel, not
 * buffered; the bytes pulled and the bytes handed back on release are exactly those sent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { exactly, PullReader } from '../../lib/engine/reader';

const HOST = '127.0.4.1';
let server: Server;
const sockets: Socket[] = [];

before(async () => {
  server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
});
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

/** A connected pair: the client's end and the server's. */
async function pair(): Promise<[Socket, Socket]> {
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as { port: number }).port, HOST);
  const [serverSide] = await accepted;
  sockets.push(client, serverSide);
  return [client, serverSide];
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('between pulls the socket is paused and the reader holds at most the parser\'s need plus one chunk', async () => {
  const [client, serverSide] = await pair();
  const reader = new PullReader(serverSide);
  assert.equal(serverSide.readableFlowing, false, 'paused before the first pull');
  let most = 0;
  serverSide.on('data', () => { most = Math.max(most, reader.buffered); });
  const data = randomBytes(4 * 1024 * 1024);
  client.end(data);
  const head = await reader.pull(exactly(16), () => new Error('end'));
  assert.equal(serverSide.readableFlowing, false, 'paused while no pull waits');
  assert.equal(head.toString('hex'), data.subarray(0, 16).toString('hex'));
  const next = await reader.pull(exactly(1000), () => new Error('end'));
  assert.equal(serverSide.readableFlowing, false);
  assert.equal(next.toString('hex'), data.subarray(16, 1016).toString('hex'));
  assert.ok(most <= 1000 + serverSide.readableHighWaterMark * 4, `held ${most} bytes`);
  // The rest goes back to the socket, whole and in order.
  reader.release();
  const rest: Buffer[] = [];
  serverSide.on('data', (chunk: Buffer) => rest.push(chunk));
  serverSide.resume();
  await once(serverSide, 'end');
  assert.equal(sha(Buffer.concat(rest)), sha(data.subarray(1016)));
});

test('a parser waiting for a long field gets it whole across many small chunks, and the end throws atEnd', async () => {
  const [client, serverSide] = await pair();
  client.setNoDelay(true);
  const reader = new PullReader(serverSide);
  const field = Buffer.concat([randomBytes(300_000).map((b) => b | 1), Buffer.from([0])]);
  for (let i = 0; i < field.length; i += 7000) client.write(field.subarray(i, i + 7000));
  client.end();
  const got = await reader.pull((b) => { const nul = b.indexOf(0); return nul < 0 ? -1 : nul + 1; }, () => new Error('end'));
  assert.equal(sha(got), sha(field));
  await assert.rejects(reader.pull(exactly(1), () => new Error('the end')), /the end/);
});
