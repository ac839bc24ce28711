/**
 * The held-FIN carrier (client mode through an HTTP proxy): bytes pass both ways unchanged,
 * and ending it sends no FIN until the peer has ended its side; then the FIN follows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { heldFinCarrier } from '../../lib/engine/carrier';

async function pair(): Promise<{ near: Socket; far: Socket; close: () => void }> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const near = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  const [far] = (await accepted) as [Socket];
  await once(near, 'connect');
  return { near, far, close: () => { near.destroy(); far.destroy(); server.close(); } };
}

test('bytes pass unchanged; the FIN waits for the peer\'s end', async () => {
  const { near, far, close } = await pair();
  try {
    const carrier = heldFinCarrier(near);
    let farEnded = false;
    far.on('end', () => { farEnded = true; });
    const arrived = once(far, 'data');
    carrier.end('close_notify stand-in');
    await once(carrier, 'finish');
    assert.equal(String((await arrived)[0]), 'close_notify stand-in');
    // The far side answers after our end: it must still be able to, and we must still read it.
    far.write('late answer');
    const [late] = await once(carrier, 'data');
    assert.equal(String(late), 'late answer');
    assert.equal(farEnded, false, 'no FIN before the far side ended');
    far.end();
    await once(carrier, 'end');
    await once(far, 'end');
    assert.equal(farEnded, true, 'the FIN once the far side ended');
  } finally {
    close();
  }
});
