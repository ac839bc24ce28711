/**
 * @module spec/helpers/tickets
 * Session tickets counted from a Node client: how many a server sends on a full handshake and
 * on the resumption of the last one, against a server made as the engine makes it (a TLSSocket
 * per connection over one SecureContext, a session server listening, no tls.Server).
 */
import { once, EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { sessionServer } from '../../lib/node-internals';
import { pki } from './pki';

export interface TicketServer {
  readonly port: number;
  close(): void;
}

/** A server context with the test PKI's certificate and a session-id context, as a service's. */
export function serverContext(): tls.SecureContext {
  const p = pki();
  return tls.createSecureContext({ cert: readFileSync(p.serverCert), key: readFileSync(p.serverKey), sessionIdContext: 'tickets' });
}

/** Serves `context`; `onSocket` sees each server TLSSocket as soon as it is made. */
export async function ticketServer(context: tls.SecureContext, onSocket: (socket: tls.TLSSocket) => void = () => undefined): Promise<TicketServer> {
  const sessions = new EventEmitter();
  sessions.on('newSession', (_id: Buffer, _data: Buffer, done: () => void) => done());
  sessions.on('resumeSession', (_id: Buffer, done: (err: null, data: null) => void) => done(null, null));
  const server = net.createServer((socket) => {
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context, server: sessionServer(sessions) });
    onSocket(secure);
    secure.on('error', () => undefined);
    secure.on('secure', () => secure.end('x'));
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

export interface TicketCounts {
  readonly full: number;
  readonly resumed: number;
  readonly reused: boolean;
}

/** One connection: the tickets it received and whether it resumed. */
async function visit(port: number, version: tls.SecureVersion, session?: Buffer): Promise<{ tickets: Buffer[]; reused: boolean }> {
  const client = tls.connect({
    port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(pki().caFile), minVersion: version, maxVersion: version, session,
  });
  const tickets: Buffer[] = [];
  client.on('session', (ticket: Buffer) => tickets.push(ticket));
  client.on('error', () => undefined);
  client.resume();
  await once(client, 'secureConnect');
  const reused = client.isSessionReused();
  await once(client, 'close');
  return { tickets, reused };
}

/** Tickets on a full `version` handshake, then on one that offers the last of them (to `resumePort`). */
export async function ticketsPerHandshake(port: number, version: tls.SecureVersion, resumePort = port): Promise<TicketCounts> {
  const first = await visit(port, version);
  const second = await visit(resumePort, version, first.tickets.at(-1));
  return { full: first.tickets.length, resumed: second.tickets.length, reused: second.reused };
}
