/**
 * Reload in the engine: an unchanged accept address keeps its listening socket (same fd,
 * same port), connections made while reloading succeed, a removed service's listener
 * closes once the new ones are open, and tunnels already open keep their old settings.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pki } from '../helpers/pki';
import { closedPort, configFrom, MemoryLog } from '../helpers/config';
import { Engine } from '../../lib/engine/engine';

const p = pki();
const servers: Server[] = [];
let engine: Engine | null = null;

after(async () => {
  await engine?.close();
  for (const s of servers) s.close();
});

/** A backend that prefixes every line it echoes with its name. */
async function named(name: string): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => socket.write(`${name}:${d}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as { port: number }).port;
}

async function open(port: number): Promise<TLSSocket> {
  const socket = tlsConnect({ port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  socket.setEncoding('utf8');
  await once(socket, 'secureConnect');
  return socket;
}

async function say(socket: TLSSocket, text: string): Promise<string> {
  socket.write(text);
  const [reply] = await once(socket, 'data');
  return reply as string;
}

function conf(sections: string): string {
  return `debug = 7\n${sections}`;
}

function section(name: string, accept: number, connect: number): string {
  return `[${name}]\naccept = 127.0.0.1:${accept}\nconnect = 127.0.0.1:${connect}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`;
}

function boundFd(log: MemoryLog, name: string, from: number): number {
  const line = log.lines.slice(from).find((l) => l.text.startsWith(`Service [${name}] (FD=`))!;
  return Number(/FD=(\d+)/.exec(line.text)![1]);
}

test('reload keeps unchanged listeners, swaps settings for new connections only, closes removed ones last', { timeout: 15000 /* backstop */ }, async () => {
  const a = await named('A');
  const b = await named('B');
  const [keepPort, gonePort, newPort] = [await closedPort(), await closedPort(), await closedPort()];
  const log = new MemoryLog();
  engine = new Engine(log);
  await engine.start(engine.prepare(configFrom(conf(section('keep', keepPort, a) + section('gone', gonePort, a)))));
  const fdBefore = boundFd(log, 'keep', 0);

  const old = await open(keepPort);
  assert.equal(await say(old, 'x'), 'A:x');

  const marker = log.lines.length;
  const reloading = engine.reload(engine.prepare(configFrom(conf(section('keep', keepPort, b) + section('new', newPort, b)))));
  // Connections made while the reload runs are served (by the old or the new settings).
  const during = await Promise.all([open(keepPort), open(keepPort)]);
  await reloading;
  for (const s of during) assert.match(await say(s, 'y'), /^[AB]:y$/);

  assert.equal(boundFd(log, 'keep', marker), fdBefore, 'the unchanged listener kept its descriptor');
  assert.equal(await say(old, 'z'), 'A:z', 'an open tunnel keeps its old target');
  assert.equal(await say(await open(keepPort), 'w'), 'B:w', 'a new connection gets the new target');
  assert.equal(await say(await open(newPort), 'v'), 'B:v');

  const refused = netConnect(gonePort, '127.0.0.1');
  const [err] = await once(refused, 'error');
  assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  // The new listener was bound before the removed one closed.
  const texts = log.texts().slice(marker);
  assert.ok(texts.findIndex((t) => t.startsWith('Service [new] (FD=')) >= 0, texts.join('\n'));
  for (const s of [old, ...during]) s.destroy();
});

test('a reload whose bind fails keeps the old listeners and settings', { timeout: 10000 /* backstop */ }, async () => {
  const a = await named('A2');
  const keepPort = await closedPort();
  const blocker: Server = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  servers.push(blocker);
  const busy = (blocker.address() as { port: number }).port;
  const log = new MemoryLog();
  const e = new Engine(log);
  await e.start(e.prepare(configFrom(conf(section('keep', keepPort, a)))));
  try {
    await assert.rejects(e.reload(e.prepare(configFrom(conf(section('keep', keepPort, a) + section('clash', busy, a))))));
    const socket: Socket = await open(keepPort);
    assert.equal(await say(socket as TLSSocket, 'q'), 'A2:q');
    socket.destroy();
  } finally {
    await e.close();
  }
});
