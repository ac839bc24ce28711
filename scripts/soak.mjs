#!/usr/bin/env node
// Soak runs against the real binary (build first: npx tsc -p .).
//
//   node scripts/soak.mjs [--connections N] [--concurrency C]
//       N short TLS connections (default 1,000,000) through a server-mode stunnel-ts into an
//       echo backend, C at a time (default 64). Each sends 32 bytes and checks the echo.
//       Reports the proxy's RSS after a warm-up and at the end: it must stay within 10%.
//   node scripts/soak.mjs --full-integrity [--transfers T] [--mb M]
//       T concurrent transfers (default 100) of M MB each way (default 64) through
//       client-mode stunnel-ts → server-mode stunnel-ts → echo: SHA-256 equal at both ends.
//
// Exit code 0 when everything held, 1 otherwise.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createHash, randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);
const { pki } = require('../dist/spec/helpers/pki.js');
const { BIN, tempDir, writeConf } = require('../dist/spec/helpers/daemon.js');
const { backend, tcpClient, TEST_GLOBALS } = require('../dist/spec/helpers/net.js');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};

/** A port that was free a moment ago (the soak daemon runs quiet, without its `bound to` line). */
async function freePort() {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts the binary quietly (debug = 3): only errors are printed; they are counted and kept (first 20). */
async function quietDaemon(sections) {
  const dir = tempDir('stunnel-ts-soak-');
  const file = writeConf(dir, 'soak.conf', `${TEST_GLOBALS}debug = 3\n${sections}`);
  const child = spawn(process.execPath, [BIN, file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const errors = [];
  const ignored = [];
  let count = 0;
  let buf = '';
  child.stderr.on('data', (c) => {
    buf += c;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) {
      if (/No trusted certificates found|needs authentication/.test(l)) continue;
      if (ignored.some((probe) => l.endsWith(`(from 127.0.0.1:${probe})`))) continue; // our own readiness probe
      count++;
      if (errors.length < 20) errors.push(l);
    }
  });
  return { child, dir, errors, errorCount: () => count, ignoreProbe: (port) => ignored.push(port) };
}

/** Waits until something accepts on `port` (the daemon has bound); returns the probe's own port. */
async function waitListening(port) {
  for (let i = 0; i < 200; i++) {
    try {
      const s = await tcpClient(port);
      const probePort = s.localPort;
      s.destroy();
      return probePort;
    } catch {
      await new Promise((r) => setTimeout(r, 50)); // backstop polling: the quiet daemon prints no `bound to`
    }
  }
  throw new Error(`nothing listening on ${port}`);
}

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** One short TLS connection: 32 bytes out, 32 bytes back, close. */
function shortConnection(port) {
  return new Promise((resolve) => {
    const payload = randomBytes(32);
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, 10_000); // backstop: a stuck connection counts as failed
    s.on('secureConnect', () => s.write(payload));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 32) { clearTimeout(timer); s.end(); resolve(got.equals(payload)); }
    });
    s.on('error', () => { clearTimeout(timer); resolve(false); });
  });
}

async function shortConnections() {
  const total = option('connections', 1_000_000);
  const concurrency = option('concurrency', 64);
  const p = pki();
  const echo = await backend();
  const port = await freePort();
  const d = await quietDaemon(`[soak]\naccept = 127.0.0.1:${port}\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\nTIMEOUTclose = 1\n`);
  d.ignoreProbe(await waitListening(port));
  let done = 0;
  let failed = 0;
  let rssBefore = 0;
  const warmUp = Math.min(10_000, Math.floor(total / 10));
  const started = Date.now();
  let lastReport = started;
  async function worker() {
    while (done < total) {
      done++;
      if (!(await shortConnection(port))) failed++;
      if (done === warmUp) rssBefore = rssKb(d.child.pid);
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        console.log(`${done}/${total} connections, ${failed} failed, RSS ${rssKb(d.child.pid)} kB`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (Date.now() - started) / 1000;
  // Let the daemon finish closing its side of the last connections before the final reading.
  await new Promise((r) => setTimeout(r, 2000)); // settle time for TIMEOUTclose, not a sync point
  const rssAfter = rssKb(d.child.pid);
  const growth = (rssAfter - rssBefore) / rssBefore;
  console.log(`${total} short TLS connections in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)}/s), ${failed} failed`);
  console.log(`proxy RSS after ${warmUp} warm-up connections: ${rssBefore} kB; at the end: ${rssAfter} kB (${(growth * 100).toFixed(1)}%)`);
  console.log(`error lines logged by the proxy: ${d.errorCount()}${d.errors.length ? '\n  ' + d.errors.join('\n  ') : ''}`);
  d.child.kill('SIGTERM');
  await once(d.child, 'close');
  await echo.close();
  rmSync(d.dir, { recursive: true, force: true });
  return failed === 0 && Math.abs(growth) <= 0.10;
}

/**
 * Streams `size` random bytes (generated 64 KiB at a time, never held whole: 100 × 64 MB
 * would not fit in memory), half-closes, and hashes both directions as they pass.
 */
async function streamTransfer(socket, size) {
  const sent = createHash('sha256');
  const received = createHash('sha256');
  let receivedBytes = 0;
  socket.on('data', (c) => { received.update(c); receivedBytes += c.length; });
  const ended = new Promise((resolve, reject) => {
    socket.once('end', resolve);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed without EOF after ${receivedBytes} of ${size} bytes`)));
  });
  ended.catch(() => undefined);
  for (let at = 0; at < size && !socket.destroyed; at += 65536) {
    const chunk = randomBytes(Math.min(65536, size - at));
    sent.update(chunk);
    if (!socket.write(chunk)) {
      await new Promise((resolve) => {
        const done = () => { socket.off('drain', done); socket.off('close', done); resolve(); };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
  }
  socket.end();
  await ended;
  return { sent: sent.digest('hex'), received: received.digest('hex'), receivedBytes };
}

async function fullIntegrity() {
  const transfers = option('transfers', 100);
  const mb = option('mb', 64);
  const p = pki();
  const echo = await backend();
  const serverPort = await freePort();
  const clientPort = await freePort();
  const server = await quietDaemon(`[tls-in]\naccept = 127.0.0.1:${serverPort}\nconnect = 127.0.0.1:${echo.port}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`);
  const client = await quietDaemon(`[plain-in]\nclient = yes\naccept = 127.0.0.1:${clientPort}\nconnect = 127.0.0.1:${serverPort}\nCAfile = ${p.caFile}\nverifyChain = yes\ncheckHost = localhost\n`);
  server.ignoreProbe(await waitListening(serverPort));
  client.ignoreProbe(await waitListening(clientPort));
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: transfers }, async () => {
    const s = await tcpClient(clientPort);
    try {
      const r = await streamTransfer(s, mb << 20);
      return r.received === r.sent && r.receivedBytes === mb << 20 && echo.receivedHashes.has(r.sent);
    } catch (err) {
      console.log(`transfer failed: ${err.message}`);
      return false;
    } finally {
      s.destroy();
    }
  }));
  const intact = results.filter(Boolean).length;
  const seconds = (Date.now() - started) / 1000;
  console.log(`${intact}/${transfers} transfers of ${mb} MB each way intact (SHA-256 equal at the backend and back at the client) in ${seconds.toFixed(1)} s`);
  for (const d of [client, server]) {
    d.child.kill('SIGTERM');
    await once(d.child, 'close');
    rmSync(d.dir, { recursive: true, force: true });
  }
  await echo.close();
  return intact === transfers;
}

const ok = args.includes('--full-integrity') ? await fullIntegrity() : await shortConnections();
process.exit(ok ? 0 : 1);
