/**
 * The engine's main-thread lines (binding, the descriptor wall, …) are written with the id
 * `ui`; the log shows them as stunnel does, `[ui]` before the process daemonized and `[main]`
 * after (Log.daemonized): the engine keeps no id of its own.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../lib/engine/engine';
import { Log } from '../../lib/log';
import { configFrom, echoServer } from '../helpers/config';
import { tempDir } from '../helpers/daemon';

const dir = tempDir('stunnel-ts-engine-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('main-thread lines are [ui] before daemonizing and [main] after, a reload\'s bind lines included', async () => {
  const echo = await echoServer();
  const output = join(dir, 'engine.log');
  const log = new Log();
  log.open({ level: 7, connectionLevel: 7, output, overwrite: false, stderr: false, syslog: null });
  const engine = new Engine(log);
  const config = (name: string) => configFrom(`
    debug = 7
    client = yes
    [${name}]
    accept = 127.0.0.1:0
    connect = 127.0.0.1:${echo.port}
  `);
  try {
    await engine.start(engine.prepare(config('first')));
    log.daemonized();
    await engine.reload(engine.prepare(config('second')));
  } finally {
    await engine.close();
    log.close();
    echo.server.close();
  }
  const bound = readFileSync(output, 'utf8').split('\n').filter((line) => line.includes(' bound to '));
  assert.equal(bound.length, 2, bound.join('\n'));
  assert.match(bound[0], /LOG6\[ui\]: Service \[first\] \(FD=\d+\) bound to 127\.0\.0\.1:\d+$/);
  assert.match(bound[1], /LOG6\[main\]: Service \[second\] \(FD=\d+\) bound to 127\.0\.0\.1:\d+$/);
});
