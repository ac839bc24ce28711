/**
 * HUP, USR1 and USR2 that reach the daemon while it is still starting (an init script's
 * `reload` racing its `start`, a logrotate run) do not kill it: they are held until it
 * serves, then carried out (one process may already serve when the later ones arrive: each is
 * carried out once either way). Sent at `Configuration successful`, which comes before
 * the bind and, with `workers = 2`, before the workers are started: without the hold, the
 * default action of SIGHUP ended the process there (a spec saw the primary vanish without a
 * line).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStunnelTs } from '../helpers/daemon';
import { exchange } from '../helpers/config';
import { lineCount, tlsClient, verifiedByTestCa } from '../helpers/net';
import { EchoBench } from '../process/echo-bench';

const bench = new EchoBench('stunnel-ts-startup-signals-');

for (const workers of [1, 2]) {
  test(`workers = ${workers}: HUP, USR1 and USR2 during start-up are carried out once it serves`, async () => {
    const globals = `foreground = yes\nsyslog = no\ndebug = 7${workers > 1 ? `\nworkers = ${workers}` : ''}`;
    const daemon = runStunnelTs([bench.writeEchoConf(`held-${workers}`, globals)]);
    bench.stopAtEnd(daemon);
    await daemon.waitFor(/Configuration successful$/);
    for (const signal of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) daemon.child.kill(signal);
    await daemon.waitFor(/Accepting new connections$/);
    // Each signal once: the reload, the listing (USR1's reopen logs nothing).
    assert.equal(await lineCount(daemon, /LOG5\[ui\]: Configuration successful$/, 2), 2);
    assert.equal(await lineCount(daemon, /LOG7\[ui\]: Processing SIGNAL_RELOAD_CONFIG$/, 1), 1);
    assert.equal(await lineCount(daemon, /LOG0\[ui\]: Listed 0 active connection\(s\)$/, 1), 1);
    const port = await daemon.port(0);
    const result = await exchange(await tlsClient(port, verifiedByTestCa()), 4096);
    assert.equal(result.received, result.sent);
    assert.equal(daemon.child.exitCode, null, 'still running');
  });
}
