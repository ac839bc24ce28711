/**
 * `workers = 2` started as root with `setuid` (issue #16, item 8): a compromised worker (here,
 * code preloaded in every worker through NODE_OPTIONS that acts once the worker serves, as the
 * service user) asks the root primary to bind an address the configuration does not name, a
 * Unix socket in a root-only directory or another TCP port, and sends a message of no known
 * shape. The primary binds nothing, logs it, kills that worker and starts another; the tunnel
 * keeps working. What a reload adds is granted: the workers bind the new service's port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { runStunnelTs } from '../helpers/daemon';
import { closedPort, exchange } from '../helpers/config';
import { echoConf, EchoBench } from '../process/echo-bench';
import { nextLine, regexText, tlsClient } from '../process/harness';

const NOBODY = 65534;
const bench = new EchoBench('stunnel-ts-bind-guard-');

/** Worker N (1, 2) asks for target N-1 of STUNNEL_TS_SPEC_BINDS once it has told the primary it serves. */
const COMPROMISED_WORKER = `
const cluster = require('node:cluster');
const targets = (process.env.STUNNEL_TS_SPEC_BINDS || '').split(',');
const target = cluster.isWorker ? targets[cluster.worker.id - 1] : undefined;
if (target) {
  const send = process.send.bind(process);
  process.send = (message, ...rest) => {
    const sent = send(message, ...rest);
    if (message && message.event === 'ready') setImmediate(() => {
      send({ event: 'connections', list: 'not a list' });
      const server = require('node:net').createServer().on('error', () => undefined);
      const [kind, host, port] = target.split(':');
      if (kind === 'unix') server.listen(host); else server.listen(Number(port), host);
    });
    return sent;
  };
}
`;

test('a worker asking for a socket the configuration does not name is killed and replaced; nothing is bound',
  { skip: process.getuid?.() !== 0 && 'needs root (the primary binds as root)' }, async () => {
    chmodSync(bench.dir, 0o755);
    const rootOnly = join(bench.dir, 'root-only');
    mkdirSync(rootOnly, { mode: 0o700 });
    const socketPath = join(rootOnly, 'planted.sock');
    const port = await closedPort();
    const preload = join(bench.dir, 'compromised-worker.js');
    writeFileSync(preload, COMPROMISED_WORKER);
    // A free port named in the file: both first workers die, and their replacements bind it again.
    const accept = await closedPort();
    const conf = bench.writeEchoConf('guard', `foreground = yes\nsyslog = no\ndebug = 6\nsetuid = ${NOBODY}\nsetgid = ${NOBODY}\nworkers = 2`, { accept });
    const daemon = runStunnelTs([conf], {
      NODE_OPTIONS: `--require ${preload}`, STUNNEL_TS_SPEC_BINDS: `unix:${socketPath},inet:127.0.0.1:${port}`,
    });
    bench.stopAtEnd(daemon);
    await daemon.waitFor(/Accepting new connections/);

    const asked = [[1, `unix:${socketPath}`], [2, `inet:127.0.0.1:${port}`]] as const;
    for (const [id, key] of asked) {
      const escaped = regexText(key);
      await daemon.waitFor(new RegExp(`LOG4\\[ui\\]: Worker ${id} \\(pid \\d+\\) sent a message of no known shape: dropped$`));
      await daemon.waitFor(new RegExp(`LOG3\\[ui\\]: Worker ${id} \\(pid \\d+\\) asked to bind ${escaped}, which the configuration does not name: killed$`));
      await daemon.waitFor(new RegExp(`LOG3\\[ui\\]: Worker ${id} \\(pid \\d+\\) exited on signal SIGKILL; restarting$`));
    }
    await daemon.waitFor(/LOG5\[ui\]: Worker 3 \(pid \d+\) started$/);
    await daemon.waitFor(/LOG5\[ui\]: Worker 4 \(pid \d+\) started$/);

    assert.equal(existsSync(socketPath), false, 'no socket file in the root-only directory');
    const probe = connect(port, '127.0.0.1');
    const [error] = await once(probe, 'error') as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED', 'the other port was never bound');
    const result = await exchange(await tlsClient(accept), 16 * 1024);
    assert.equal(result.received, result.sent);
  });

test('a service added by a reload is granted: the workers bind its port and serve it', async () => {
  const [first, added] = [await closedPort(), await closedPort()];
  const globals = 'foreground = yes\nsyslog = no\ndebug = 6\nworkers = 2';
  const conf = bench.writeEchoConf('added', globals, { accept: first });
  const daemon = runStunnelTs([conf]);
  bench.stopAtEnd(daemon);
  await daemon.waitFor(/Accepting new connections/);
  writeFileSync(conf, `${echoConf(globals, { backend: bench.echoPort(), accept: first })}\n` +
    echoConf('', { backend: bench.echoPort(), accept: added, name: 'added' }));
  const success = nextLine(daemon, /Configuration successful$/);
  daemon.child.kill('SIGHUP');
  await success;
  for (const port of [first, added]) {
    const result = await exchange(await tlsClient(port), 4096);
    assert.equal(result.received, result.sent);
  }
  assert.equal(daemon.lines.some((l) => / asked to bind /.test(l)), false, daemon.lines.join('\n'));
});
