/**
 * @module bench/clients/hold-client
 * Opens COUNT TLS tunnels through the proxy (at most CONCURRENCY handshakes in flight; the first
 * is a full handshake, the rest resume its session to save time) and holds them open. A tunnel
 * counts as open once the backend's greeting byte arrives through it. Prints
 *   {"type":"held","opened":N,"failed":N,"errors":{...},"seconds":S}
 * and then holds everything until its stdin closes or it is killed.
 * Usage: node hold-client.mjs PORT COUNT CONCURRENCY
 */
import tls from 'node:tls';

const [port, count, concurrency] = process.argv.slice(2).map(Number);
const PER_TUNNEL_BACKSTOP_MS = 60000;
process.stdin.on('end', () => process.exit(0)).resume();

const held = [];
const errors = {};
let opened = 0;
let failed = 0;
let session;
let next = 0;

function open() {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        failed++;
        errors[error] = (errors[error] ?? 0) + 1;
        socket.destroy();
      } else {
        opened++;
      }
      resolve();
    };
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, session });
    const timer = setTimeout(() => settle('backstop: no greeting within 60 s'), PER_TUNNEL_BACKSTOP_MS);
    socket.on('session', (s) => { session = s; });
    socket.once('data', () => settle(null));
    socket.on('error', (error) => settle(error.code ?? error.message));
    socket.on('close', () => settle('closed before the greeting'));
    held.push(socket);
  });
}

async function worker() {
  while (next < count) {
    next++;
    await open();
  }
}

const started = performance.now();
next = 1;
await open(); // full handshake: gives the session the others resume
await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ type: 'held', opened, failed, errors, seconds })}\n`);
