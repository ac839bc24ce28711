/**
 * @module bench/lib/ports
 * Loopback ports: pick one the kernel says is free, and wait until a started server accepts on it.
 */
import net from 'node:net';

export const HOST = '127.0.0.1';

/** A port that was free a moment ago (the kernel's pick for port 0, released at once). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Resolves when something accepts TCP connections on `port`. Rejects when `proc` exits first
 * or after `backstopMs`. Retries every 50 ms: a proxy that logs nothing at the default level
 * gives no other signal that it is listening.
 */
export async function waitForPort(port, proc, what, backstopMs = 20000) {
  const deadline = Date.now() + backstopMs; // backstop
  let exited = null;
  proc.exited.then((result) => { exited = result; });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${what} exited (code ${exited.code}, signal ${exited.signal}) before listening on ${HOST}:${port}\n${proc.tail()}`);
    if (await tryConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`backstop: ${what} is not listening on ${HOST}:${port} after ${backstopMs} ms\n${proc.tail()}`);
}
