/**
 * lib/node-internals: each use of Node's private API does what stunnel-ts relies on, on this
 * Node, and the start-up checks name an internal that is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readlinkSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { EventEmitter } from 'node:events';
import {
  aroundClientHello, chainVerifyError, checkNodeInternals, checkServerHandle, descriptorOf, releaseTlsErrors, renewTicketsWhen,
  resetAfterWrap, sessionServer, setContextTicketKeys, setVerifyMode,
} from '../lib/node-internals';
import { StartupError } from '../lib/errors';
import { pki } from './helpers/pki';
import { serverContext, ticketServer, ticketsPerHandshake } from './helpers/tickets';

async function pair(): Promise<{ server: net.Server; client: net.Socket; accepted: net.Socket }> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepting = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [accepted] = (await accepting) as [net.Socket];
  return { server, client, accepted };
}

test('the start-up checks pass on this Node', async () => {
  assert.doesNotThrow(() => checkNodeInternals());
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    assert.doesNotThrow(() => checkServerHandle(server));
  } finally {
    server.close();
  }
});

test('a handle without reset is named in a start-up error', () => {
  class TCP { fd = 3; }
  const fake = { _handle: new TCP() } as unknown as net.Server;
  assert.throws(() => checkServerHandle(fake), (err: unknown) =>
    err instanceof StartupError && /lacks the internal API stunnel-ts needs: TCP#reset/.test(err.message));
});

test('descriptorOf: the socket descriptor of a server and a connection, null when closed', async () => {
  const { server, client, accepted } = await pair();
  try {
    for (const target of [server, accepted]) {
      const fd = descriptorOf(target);
      assert.ok(fd !== null && fd > 2);
      assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^socket:\[\d+\]$/);
    }
    assert.equal(descriptorOf(new net.Socket()), null);
  } finally {
    client.destroy();
    accepted.destroy();
    server.close();
  }
});

test('resetAfterWrap: the TCP socket under a TLSSocket ends with a reset the peer sees', async () => {
  const { server, client, accepted } = await pair();
  try {
    const wrapped = new tls.TLSSocket(accepted, { isServer: true, secureContext: tls.createSecureContext() });
    wrapped.on('error', () => undefined);
    accepted.on('error', () => undefined);
    let error: NodeJS.ErrnoException | undefined;
    client.on('error', (err: NodeJS.ErrnoException) => { error = err; });
    const ended = new Promise((resolve) => client.on('close', resolve));
    assert.equal(resetAfterWrap(accepted, () => wrapped.destroy()), true);
    await ended;
    assert.equal(error?.code, 'ECONNRESET');
  } finally {
    client.destroy();
    server.close();
  }
});

test('chainVerifyError: OpenSSL\'s verdict on a server connection; releaseTlsErrors runs', async () => {
  const p = pki();
  // The same client certificate, judged against its own CA and against one that signed nothing.
  const contexts = [p.caFile, p.otherCaFile].map((ca) =>
    tls.createSecureContext({ cert: readFileSync(p.serverCert), key: readFileSync(p.serverKey), ca: readFileSync(ca) }));
  const verdicts: Array<string | null> = [];
  const server = net.createServer((socket) => {
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: contexts[verdicts.length], requestCert: true, rejectUnauthorized: false });
    secure.on('error', () => undefined);
    secure.on('secure', () => {
      releaseTlsErrors(secure);
      verdicts.push(chainVerifyError(secure)?.message ?? null);
      secure.end();
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const connectWith = async (cert: string, key: string) => {
    const client = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(p.caFile), servername: 'localhost', cert: readFileSync(cert), key: readFileSync(key) });
    client.on('error', () => undefined);
    client.resume();
    await once(client, 'close');
  };
  try {
    await connectWith(p.clientCert, p.clientKey);
    await connectWith(p.clientCert, p.clientKey);
    assert.equal(verdicts[0], null);
    assert.match(String(verdicts[1]), /self-signed certificate in certificate chain|unable to get local issuer certificate/);
  } finally {
    server.close();
  }
});

test('setContextTicketKeys: a ticket from one context resumes on another given the same keys', async () => {
  const p = pki();
  const keys = Buffer.alloc(48, 7);
  const servers: net.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < 2; i++) {
    // As the engine serves: a TLSSocket per connection over one SecureContext, no tls.Server.
    const context = tls.createSecureContext({ cert: readFileSync(p.serverCert), key: readFileSync(p.serverKey) });
    setContextTicketKeys(context, keys);
    const server = net.createServer((socket) => {
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
      secure.on('error', () => undefined);
      secure.on('secure', () => secure.end('x'));
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    ports.push((server.address() as net.AddressInfo).port);
  }
  try {
    let session: Buffer | undefined;
    const first = tls.connect({ port: ports[0], host: '127.0.0.1', servername: 'localhost', ca: readFileSync(p.caFile), maxVersion: 'TLSv1.2' });
    first.on('session', (s: Buffer) => { session = s; });
    first.resume();
    await once(first, 'close');
    assert.ok(session);
    const second = tls.connect({ port: ports[1], host: '127.0.0.1', servername: 'localhost', ca: readFileSync(p.caFile), maxVersion: 'TLSv1.2', session });
    second.resume();
    await once(second, 'secureConnect');
    assert.equal(second.isSessionReused(), true);
    await once(second, 'close');
  } finally {
    for (const server of servers) server.close();
  }
});

test('renewTicketsWhen: asked inside the ClientHello hook, a yes brings a fresh ticket; keys set later apply', async () => {
  const context = serverContext();
  const calls: string[] = [];
  let answer = true;
  renewTicketsWhen(context, () => {
    calls.push('renew?');
    return answer;
  });
  setContextTicketKeys(context, Buffer.alloc(48, 9));
  const server = await ticketServer(context, (socket) => {
    assert.equal(aroundClientHello(socket, () => calls.push('hello'), () => calls.push('done')), true);
  });
  try {
    assert.deepEqual(await ticketsPerHandshake(server.port, 'TLSv1.3'), { full: 2, resumed: 1, reused: true });
    assert.deepEqual(calls, ['hello', 'done', 'hello', 'renew?', 'done']);
    answer = false;
    assert.deepEqual(await ticketsPerHandshake(server.port, 'TLSv1.3'), { full: 2, resumed: 0, reused: true });
  } finally {
    server.close();
  }
});

test('renewTicketsWhen: a ticket under other keys is refused (a full handshake), the same keys resume', async () => {
  const issuing = serverContext();
  const other = serverContext();
  let asked = 0;
  renewTicketsWhen(other, () => ++asked > 0);
  setContextTicketKeys(issuing, Buffer.alloc(48, 1));
  setContextTicketKeys(other, Buffer.alloc(48, 2));
  const servers = [await ticketServer(issuing), await ticketServer(other)];
  try {
    assert.equal((await ticketsPerHandshake(servers[0].port, 'TLSv1.3', servers[1].port)).reused, false);
    assert.equal(asked, 0);
    setContextTicketKeys(other, Buffer.alloc(48, 1));
    assert.equal((await ticketsPerHandshake(servers[0].port, 'TLSv1.3', servers[1].port)).reused, true);
    assert.equal(asked, 1);
  } finally {
    for (const server of servers) server.close();
  }
});

test('sessionServer: Node asks the given emitter for session-id sessions', () => {
  const cache = new EventEmitter();
  assert.equal(sessionServer(cache), cache);
  assert.equal(sessionServer(null), undefined);
});

test('setVerifyMode: set from the SNI callback, the handshake asks for the client certificate', async () => {
  const p = pki();
  const context = tls.createSecureContext({ cert: readFileSync(p.serverCert), key: readFileSync(p.serverKey), ca: readFileSync(p.caFile) });
  const subjects: string[] = [];
  const server = net.createServer((socket) => {
    // Made without requestCert, as a primary without verification makes it.
    const secure: tls.TLSSocket = new tls.TLSSocket(socket, {
      isServer: true, secureContext: context,
      SNICallback: (_name, done) => { setVerifyMode(secure, true, false); done(null, context); },
    });
    secure.on('error', () => undefined);
    secure.on('secure', () => {
      subjects.push(secure.getPeerX509Certificate()?.subject ?? 'none');
      secure.end();
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost',
      ca: readFileSync(p.caFile), cert: readFileSync(p.clientCert), key: readFileSync(p.clientKey) });
    client.on('error', () => undefined);
    client.resume();
    await once(client, 'close');
    assert.deepEqual(subjects, ['CN=client']);
  } finally {
    server.close();
  }
});
