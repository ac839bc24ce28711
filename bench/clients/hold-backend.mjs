/**
 * @module bench/clients/hold-backend
 * A backend that accepts TCP connections, greets each with one byte (so the client knows its
 * tunnel reaches all the way through) and then holds it open, doing nothing.
 * Prints {"type":"listening","port":P}. Exits when its stdin closes (the harness is gone).
 */
import net from 'node:net';

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => {});
  socket.write('!');
});
server.maxConnections = 1e6;
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ type: 'listening', port: server.address().port })}\n`);
});
process.stdin.on('end', () => process.exit(0)).resume();
