/**
 * Where the far side goes and how: failover = rr alternates, prio takes the first live
 * target, `local =` picks the source address, `protocol = proxy` sends the client's
 * address first, `delay = yes` resolves per connection, TIMEOUTconnect gives up on a
 * target that never answers, a refused socket option costs one connection, and a Unix
 * accept socket gets the section's setuid/setgid ownership.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { pki } from '../helpers/pki';
import { tempDir } from '../helpers/daemon';
import { closedPort, startEngine, type RunningEngine } from '../helpers/config';
import { peerPath, skipWithout } from '../helpers/peers';

const p = pki();
const engines: RunningEngine[] = [];
const servers: Server[] = [];
const children: ChildProcess[] = [];
const tls = `cert = ${p.serverCert}\nkey = ${p.serverKey}`;

after(async () => {
  for (const e of engines) await e.engine.close();
  for (const s of servers) s.close();
  for (const c of children) c.kill();
});

async function engine(text: string): Promise<RunningEngine> {
  const e = await startEngine(text);
  engines.push(e);
  return e;
}

/** A backend that answers every connection with `reply(socket)` and closes. */
async function backend(reply: (socket: Socket) => string, host = '127.0.0.1'): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(reply(socket)));
  });
  server.listen(0, host);
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as { port: number }).port;
}

/** One TLS request through the engine; the backend's whole answer. */
async function ask(port: number): Promise<string> {
  const socket = tlsConnect({ port, host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  socket.setEncoding('utf8');
  let text = '';
  socket.on('data', (d: string) => { text += d; });
  await once(socket, 'secureConnect');
  socket.write('?');
  await once(socket, 'end');
  socket.destroy();
  return text;
}

test('failover = rr alternates between targets; prio always takes the first live one', async () => {
  const a = await backend(() => 'A');
  const b = await backend(() => 'B');
  const dead = await closedPort();
  const rr = await engine(`debug = 6\n[rr]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${a}\nconnect = 127.0.0.1:${b}\nfailover = rr\n${tls}`);
  const prio = await engine(`debug = 6\n[prio]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${dead}\nconnect = 127.0.0.1:${b}\nconnect = 127.0.0.1:${a}\nfailover = prio\n${tls}`);
  const rrAnswers: string[] = [];
  const prioAnswers: string[] = [];
  for (let i = 0; i < 4; i++) {
    rrAnswers.push(await ask(rr.ports[0]));
    prioAnswers.push(await ask(prio.ports[0]));
  }
  assert.deepEqual(rrAnswers, ['A', 'B', 'A', 'B']);
  assert.deepEqual(prioAnswers, ['B', 'B', 'B', 'B']);
  assert.deepEqual(rr.log.texts().filter((t) => t.startsWith('failover:')).slice(0, 2),
    ['failover: round-robin, starting at entry #0', 'failover: round-robin, starting at entry #1']);
  assert.ok(prio.log.texts().includes(`s_connect: connect 127.0.0.1:${dead}: Connection refused (111)`));
});

test('local = sets the source address of the backend connection', async () => {
  const port = await backend((socket) => socket.remoteAddress!);
  const e = await engine(`debug = 6\n[local]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\nlocal = 127.0.0.2\n${tls}`);
  assert.equal(await ask(e.ports[0]), '127.0.0.2');
  await e.log.waitFor(/^Service \[local\] connected remote server from 127\.0\.0\.2:\d+$/);
});

test('protocol = proxy: the backend reads a PROXY v1 line with the client\'s address first', async () => {
  const port = await backend(() => '');
  const header = new Promise<string>((resolve) => {
    servers[servers.length - 1].removeAllListeners('connection');
    servers[servers.length - 1].on('connection', (socket: Socket) => {
      socket.setEncoding('latin1');
      socket.once('data', (d: string) => { resolve(d); socket.end(); });
    });
  });
  const e = await engine(`debug = 6\n[proxy]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\nprotocol = proxy\n${tls}`);
  const client = tlsConnect({ port: e.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  client.on('error', () => {});
  await once(client, 'secureConnect');
  const line = await header;
  assert.equal(line, `PROXY TCP4 127.0.0.1 127.0.0.1 ${client.localPort} ${e.ports[0]}\r\n`);
  client.destroy();
});

test('names resolve once at start; with delay = yes for every connection', async () => {
  const port = await backend(() => 'named');
  const atStart = await engine(`debug = 7\n[named]\naccept = 127.0.0.1:0\nconnect = localhost:${port}\n${tls}`);
  const delayed = await engine(`debug = 7\n[delayed]\naccept = 127.0.0.1:0\nconnect = localhost:${port}\ndelay = yes\n${tls}`);
  assert.equal(await ask(atStart.ports[0]), 'named');
  assert.equal(await ask(delayed.ports[0]), 'named');
  for (const e of [atStart, delayed]) {
    assert.ok(!e.log.texts().includes('Cannot resolve connect target - delaying DNS lookup'));
    assert.ok(e.log.texts().some((t) => t.startsWith('s_connect: connected ')), e.log.dump());
  }
});

test('TIMEOUTconnect: a target whose accept queue is full is given up after the timeout', { skip: skipWithout('socat'), timeout: 15000 /* backstop */ }, async () => {
  // socat serves one connection at a time (max-children=1) and accepts no other meanwhile;
  // with backlog 1 the kernel queues two more and then drops further SYNs: a connect to
  // it never completes.
  const port = await closedPort();
  const socat = spawn(peerPath('socat'), [`TCP-LISTEN:${port},bind=127.0.0.1,backlog=1,fork,max-children=1`, 'SYSTEM:sleep 30'], { stdio: 'ignore' });
  children.push(socat);
  const fillers: Socket[] = [];
  const deadline = Date.now() + 5000;
  for (let connected = 0; connected < 3;) {
    assert.ok(socat.exitCode === null && socat.signalCode === null, 'socat exited before it listened');
    assert.ok(Date.now() < deadline, 'socat did not listen within 5 s');
    // Refused until socat listens; each attempt waits for its own outcome.
    const socket = netConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    const result = await new Promise<boolean>((resolve) => {
      socket.on('connect', () => resolve(true));
      socket.on('close', () => resolve(false));
    });
    if (result) { fillers.push(socket); connected++; }
  }
  const e = await engine(`debug = 6\n[slow]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\nTIMEOUTconnect = 1\n${tls}`);
  const client = tlsConnect({ port: e.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  client.on('error', () => {});
  await once(client, 'secureConnect');
  const texts = await e.log.connection(client.localPort!);
  assert.ok(texts.includes(`s_connect: s_poll_wait 127.0.0.1:${port}: TIMEOUTconnect exceeded`), texts.join('\n'));
  assert.deepEqual(texts.slice(-2), ['No more addresses to connect', 'Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket']);
  for (const f of fillers) f.destroy();
});

test('a socket option the kernel refuses costs that connection, not the process', async () => {
  const port = await backend(() => 'fine');
  const e = await engine(`debug = 6\n[opt]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\nsocket = l:SO_BINDTODEVICE=nonexistent0\n${tls}`);
  const socket = netConnect(e.ports[0], '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((resolve) => socket.on('close', resolve));
  const line = await e.log.waitFor(/^Failed to set local socket options: /);
  assert.equal(line.level, 3);
  assert.match(line.text, /SO_BINDTODEVICE/);
  // The listener is still there.
  const again = netConnect(e.ports[0], '127.0.0.1');
  again.on('error', () => {});
  await once(again, 'connect');
  again.destroy();
});

test('a Unix accept socket belongs to the section\'s setuid/setgid', async () => {
  const port = await backend(() => 'unix');
  const path = join(tempDir('stunnel-ts-unix-'), 'accept.sock');
  const e = await engine(`debug = 6\n[unix]\naccept = ${path}\nconnect = 127.0.0.1:${port}\nsetuid = nobody\nsetgid = nogroup\n${tls}`);
  const st = statSync(path);
  assert.ok(st.isSocket());
  assert.deepEqual([st.uid, st.gid], [65534, 65534]);
  await e.log.waitFor(new RegExp(`^Service \\[unix\\] \\(FD=\\d+\\) bound to ${path.replace(/[.]/g, '\\.')}$`));
  const socket = tlsConnect({ path, ca: p.ca.certPem, servername: 'localhost' });
  socket.setEncoding('utf8');
  await once(socket, 'secureConnect');
  socket.write('?');
  const [reply] = await once(socket, 'data');
  assert.equal(reply, 'unix');
  socket.destroy();
});
