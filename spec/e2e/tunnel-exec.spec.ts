/**
 * `exec` endpoints: a program per connection with REMOTE_HOST/REMOTE_PORT in its
 * environment and execArgs as its argv; and an exec+connect service (no accept) whose
 * program's stdio is the client side, run again after it ends with `retry = yes`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createTlsServer, connect as tlsConnect, type Server as TlsServer } from 'node:tls';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pki } from '../helpers/pki';
import { tempDir } from '../helpers/daemon';
import { startEngine, type RunningEngine } from '../helpers/config';

const p = pki();
const engines: RunningEngine[] = [];
const servers: TlsServer[] = [];

after(async () => {
  for (const e of engines) await e.engine.close();
  for (const s of servers) s.close();
});

test('exec: the program sees the client address and its execArgs, and talks to the client', { timeout: 10000 /* backstop */ }, async () => {
  // execArgs are split at spaces (no shell quoting), as stunnel does: the script does the rest.
  const script = join(tempDir('stunnel-ts-exec-'), 'greet.sh');
  writeFileSync(script, '#!/bin/sh\necho "$0 $1 $REMOTE_HOST $REMOTE_PORT"\nexec cat\n');
  chmodSync(script, 0o755);
  const e = await startEngine(`debug = 7\n[exec]\naccept = 127.0.0.1:0\nexec = ${script}\nexecArgs = greeter first\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
  engines.push(e);
  const socket = tlsConnect({ port: e.ports[0], host: '127.0.0.1', ca: p.ca.certPem, servername: 'localhost' });
  socket.setEncoding('utf8');
  let text = '';
  socket.on('data', (d: string) => { text += d; });
  await once(socket, 'secureConnect');
  const port = socket.localPort!;
  socket.end('echoed\n');
  await once(socket, 'end');
  // ($0 of a script is its path whatever argv[0] was; $1 comes from execArgs.)
  assert.equal(text, `${script} first 127.0.0.1 ${port}\nechoed\n`);
  const texts = await e.log.connection(port);
  assert.ok(texts.some((t) => /^Local mode child started \(PID=\d+\)$/.test(t)), texts.join('\n'));
  assert.match(texts[texts.length - 1], /^Connection closed: \d+ byte\(s\) sent to TLS, 7 byte\(s\) sent to socket$/);
});

test('exec+connect with retry: the program is the client side, run again after it ends', { timeout: 10000 /* backstop */ }, async () => {
  const received: string[] = [];
  let twice!: () => void;
  const gotTwo = new Promise<void>((resolve) => { twice = resolve; });
  const backend = createTlsServer({ cert: p.server.certPem, key: p.server.keyPem }, (socket) => {
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (d: string) => { text += d; });
    socket.on('end', () => {
      received.push(text);
      socket.end();
      if (received.length === 2) twice();
    });
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  servers.push(backend);
  const port = (backend.address() as { port: number }).port;
  const e = await startEngine(`debug = 7\n[ec]\nclient = yes\nexec = /bin/echo\nexecArgs = echo hello\nconnect = 127.0.0.1:${port}\nretry = yes`);
  engines.push(e);
  await gotTwo;
  assert.deepEqual(received, ['hello\n', 'hello\n']);
  const startLine = e.log.lines.find((l) => l.text === 'Starting exec+connect service [ec]');
  assert.equal(startLine?.id, 'ui');
  assert.equal(startLine?.level, 7);
  const retry = e.log.lines.find((l) => l.text === 'Retrying an exec+connect section');
  assert.equal(retry?.id, '0_0');
  assert.ok(e.log.lines.some((l) => l.id === '0_1' && l.text === 'Service [ec] accepted connection'), e.log.dump());
});
