/**
 * engine/shared-read: a dialed socket reading into the one shared buffer behaves as an
 * ordinary socket until a sink is set (chunks are copies, not views that the next read
 * overwrites); a sink gets views, stops reading by returning false, and bytes keep their
 * order when it is removed. The relay copies the views it writes while TLS writes queue;
 * a server-mode tunnel's download reaches a slow TLS reader intact (SHA-256).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { setReadSink, SHARED_READ } from '../../lib/engine/shared-read';
import { Relay, type RelayOwner } from '../../lib/engine/relay';
import type { CloseStatus } from '../../lib/engine/status';
import { pki } from '../helpers/pki';
import { sha256, startEngine } from '../helpers/config';

const p = pki();
const servers: Server[] = [];

after(() => {
  for (const server of servers) server.close();
});

/**
 * A backend that sends `payload` to each connection and closes: at once, or `piece` bytes
 * per turn of the event loop (small reads in the tunnel, each its own TLS write).
 */
async function sender(payload: Buffer, piece = payload.length): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    let offset = 0;
    const next = (): void => {
      if (socket.destroyed) return;
      if (offset >= payload.length) return void socket.end();
      socket.write(payload.subarray(offset, offset += piece));
      setImmediate(next);
    };
    next();
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

function dial(port: number): Socket {
  return netConnect({ host: '127.0.0.1', port, onread: SHARED_READ });
}

test('without a sink, chunks are copies: kept until the end they still hold what was sent', async () => {
  const payload = randomBytes(600 * 1024); // several 64 KiB reads
  const socket = dial(await sender(payload));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  assert.ok(chunks.length > 1, `${chunks.length} chunk(s)`);
  assert.equal(sha256(Buffer.concat(chunks)), sha256(payload));
});

test('a sink gets views and stops reading with false; removed, the rest comes as data, in order', async () => {
  const payload = randomBytes(600 * 1024);
  const socket = dial(await sender(payload));
  const received: Buffer[] = [];
  let views = 0;
  setReadSink(socket, function (this: Socket, view: Buffer): boolean {
    views++;
    assert.equal(this, socket);
    received.push(Buffer.from(view)); // a view dies with the call
    if (views < 3) return true;
    // The third stops reading: the socket is paused until resumed, and the sink is gone.
    setReadSink(socket, undefined);
    setImmediate(() => {
      assert.equal(views, 3);
      socket.on('data', (chunk: Buffer) => received.push(chunk));
    });
    return false;
  });
  await once(socket, 'end');
  assert.equal(views, 3);
  assert.equal(sha256(Buffer.concat(received)), sha256(payload));
});

test('the relay copies a view only when the TLS side would queue it behind a write in flight', async () => {
  const payload = randomBytes(256 << 10);
  const plain = dial(await sender(payload, 2048));
  await once(plain, 'connect');
  // Stands in for a TLSSocket: takes (copies) a chunk when it is written, as Node's TLSWrap
  // encrypts it, but finishes each write a little later: reads arriving meanwhile queue.
  const taken: Buffer[] = [];
  const tls = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      taken.push(Buffer.from(chunk));
      setTimeout(done, 2);
    },
  });
  const done = new Promise<CloseStatus>((resolve) => {
    const owner: RelayOwner = { say: () => {}, wants: () => false, relayDone: resolve };
    new Relay(tls, plain, { busy: 300, close: 60, connect: 10, idle: 60 }, owner, false);
  });
  await once(plain, 'end');
  tls.push(null); // the TLS peer finishes too
  await done;
  assert.equal(sha256(Buffer.concat(taken)), sha256(payload));
});

test('server mode: a 16 MB download reaches a slow TLS reader intact', async () => {
  const payload = randomBytes(16 << 20);
  const backendPort = await sender(payload);
  const tunnel = await startEngine(`
    debug = 6
    [download]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${backendPort}
    cert = ${p.serverCert}
    key = ${p.serverKey}
  `);
  try {
    const client = tlsConnect({ port: tunnel.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
    const hash = createHash('sha256');
    let reads = 0;
    client.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      // Every 8th chunk the reader stalls for a turn of the loop.
      if (++reads % 8 === 0) {
        client.pause();
        setImmediate(() => client.resume());
      }
    });
    await once(client, 'end');
    assert.equal(hash.digest('hex'), sha256(payload));
    client.destroy();
    const closed = await tunnel.log.waitFor(/^Connection closed:/);
    assert.equal(closed.text, `Connection closed: ${payload.length} byte(s) sent to TLS, 0 byte(s) sent to socket`);
  } finally {
    await tunnel.engine.close();
  }
});
