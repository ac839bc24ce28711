/**
 * lib/tls/ticket-renewal: a resumed TLS 1.3 handshake brings one fresh ticket, a resumed TLS 1.2
 * one none (stunnel 5.68's counts); without the module, Node's server renews nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renewTls13Tickets, watchClientHello } from '../../lib/tls/ticket-renewal';
import { serverContext, ticketServer, ticketsPerHandshake } from '../helpers/tickets';

test('TLS 1.3: 2 tickets on a full handshake, 1 on a resumed one; TLS 1.2: 1, then none', async () => {
  const context = serverContext();
  renewTls13Tickets(context);
  const server = await ticketServer(context, watchClientHello);
  try {
    assert.deepEqual(await ticketsPerHandshake(server.port, 'TLSv1.3'), { full: 2, resumed: 1, reused: true });
    assert.deepEqual(await ticketsPerHandshake(server.port, 'TLSv1.2'), { full: 1, resumed: 0, reused: true });
  } finally {
    server.close();
  }
});

test('Node alone sends no ticket on a resumed TLS 1.3 handshake (what the module is for)', async () => {
  const server = await ticketServer(serverContext());
  try {
    assert.deepEqual(await ticketsPerHandshake(server.port, 'TLSv1.3'), { full: 2, resumed: 0, reused: true });
  } finally {
    server.close();
  }
});
