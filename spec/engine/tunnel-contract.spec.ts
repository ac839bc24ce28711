/**
 * One tunnel contract run against server mode (TLS client → engine → plain backend) and
 * client mode (plain client → engine → TLS backend): bytes both ways, half-close, peer
 * reset, backend down.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { pki } from '../helpers/pki';
import { closeStream } from '../../lib/engine/teardown';
import { closedPort, exchange, startEngine, type RunningEngine } from '../helpers/config';

const p = pki();

type Handler = (socket: Socket) => void;

interface Mode {
  readonly name: 'server' | 'client';
  /** A backend on 127.0.0.1:0 of the right kind, calling `handler` per connection. */
  backend(handler: Handler): Promise<{ server: Server; port: number }>;
  /** The service section lines for a tunnel to `port`. */
  section(port: number): string;
  /** A connected client of the right kind. */
  client(port: number): Promise<Socket>;
}

async function listening(server: Server): Promise<{ server: Server; port: number }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

const modes: Mode[] = [
  {
    name: 'server',
    backend: (handler) => listening(createServer({ allowHalfOpen: true }, handler)),
    section: (port) => `connect = 127.0.0.1:${port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`,
    client: async (port) => {
      const socket = tlsConnect({ port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost', allowHalfOpen: true } as never);
      await once(socket, 'secureConnect');
      return socket;
    },
  },
  {
    name: 'client',
    backend: (handler) => listening(createTlsServer({ cert: p.server.certPem, key: p.server.keyPem, allowHalfOpen: true }, handler)),
    section: (port) => `client = yes\nconnect = 127.0.0.1:${port}\nverifyChain = yes\nCAfile = ${p.caFile}\ncheckHost = localhost`,
    client: async (port) => {
      const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
      await once(socket, 'connect');
      return socket;
    },
  },
];

for (const mode of modes) {
  describe(`tunnel contract, ${mode.name} mode`, { timeout: 20000 /* backstop */ }, () => {
    const servers: Server[] = [];
    const engines: RunningEngine[] = [];
    let lastHandler: Handler = () => {};
    let tunnelPort = 0;
    let engine: RunningEngine;

    before(async () => {
      const backend = await mode.backend((socket) => lastHandler(socket));
      servers.push(backend.server);
      engine = await startEngine(`debug = 7\n[${mode.name}-contract]\naccept = 127.0.0.1:0\n${mode.section(backend.port)}\nTIMEOUTclose = 5`);
      engines.push(engine);
      tunnelPort = engine.ports[0];
    });

    after(async () => {
      for (const e of engines) await e.engine.close();
      for (const s of servers) s.close();
    });

    test('bytes go through both ways unchanged', async () => {
      lastHandler = (socket) => { socket.on('error', () => {}); socket.pipe(socket); };
      const result = await exchange(await mode.client(tunnelPort), 4 << 20);
      assert.equal(result.receivedBytes, 4 << 20);
      assert.equal(result.received, result.sent);
      await engine.log.waitFor(new RegExp(`^Connection closed: ${4 << 20} byte\\(s\\) sent to TLS, ${4 << 20} byte\\(s\\) sent to socket$`));
    });

    test('half-close: the backend still answers after the client finished sending', async () => {
      const gotAll = new Promise<string>((resolve) => {
        lastHandler = (socket) => {
          let text = '';
          socket.setEncoding('utf8');
          socket.on('data', (d: string) => { text += d; });
          socket.on('end', () => { socket.end(`reply to ${text}`); resolve(text); });
        };
      });
      const client = await mode.client(tunnelPort);
      client.setEncoding('utf8');
      let reply = '';
      client.on('data', (d: string) => { reply += d; });
      client.end('question');
      assert.equal(await gotAll, 'question');
      await once(client, 'end');
      assert.equal(reply, 'reply to question');
    });

    test('a reset by the backend is a normal end for stunnel: the client gets a clean close', async () => {
      // A TLS backend's socket wraps the TCP one (`_parent`): the RST goes through that.
      lastHandler = (socket) => {
        socket.once('data', () => closeStream(socket, (socket as unknown as { _parent?: Socket })._parent ?? socket, true));
      };
      const client = await mode.client(tunnelPort);
      const errors: string[] = [];
      client.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
      client.resume();
      client.write('trigger');
      await once(client, 'end');
      assert.deepEqual(errors, []);
      const texts = await engine.log.connection(client.localPort!);
      // Server mode: "sent to socket" is client → backend; client mode: "sent to TLS" is.
      assert.equal(texts[texts.length - 1], mode.name === 'server'
        ? 'Connection closed: 0 byte(s) sent to TLS, 7 byte(s) sent to socket'
        : 'Connection closed: 7 byte(s) sent to TLS, 0 byte(s) sent to socket');
      const fd = mode.name === 'server' ? 'socket fd' : 'TLS fd';
      assert.ok(texts.includes(`${fd}: Connection reset by peer (104)`), texts.join('\n'));
    });
  });

  test(`backend down (${mode.name} mode): stunnel's s_connect lines, the client is reset`, { timeout: 10000 /* backstop */ }, async () => {
    const down = await startEngine(`debug = 6\n[down]\naccept = 127.0.0.1:0\n${mode.section(await closedPort())}`);
    try {
      const socket = await mode.client(down.ports[0]);
      const errors: string[] = [];
      socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
      await new Promise((resolve) => socket.on('close', resolve));
      assert.deepEqual(errors, ['ECONNRESET']);
      await down.log.waitFor(/^Connection reset: 0 byte\(s\) sent to TLS, 0 byte\(s\) sent to socket$/);
      const texts = down.log.texts();
      assert.ok(texts.some((t) => /^s_connect: connect 127\.0\.0\.1:\d+: Connection refused \(111\)$/.test(t)), texts.join('\n'));
      assert.ok(texts.includes('No more addresses to connect'));
    } finally {
      await down.engine.close();
    }
  });
}
