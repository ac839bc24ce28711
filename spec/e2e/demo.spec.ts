/**
 * @module spec/e2e/demo
 * `npm start` from an empty directory: certificate and config are made, the backend and
 * the tunnel start, and curl gets the backend's greeting through TLS.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Running, tempDir } from '../helpers/daemon';
import { peerPath, skipWithout } from '../helpers/peers';

const DEMO = resolve(__dirname, '../../lib/demo.js');

describe('npm start (demo)', { skip: skipWithout('curl') }, () => {
  const cwd = tempDir('stunnel-ts-demo-');
  const demo = new Running(spawn(process.execPath, [DEMO], { cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  after(async () => {
    await demo.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  test('serves the greeting through the TLS tunnel', async () => {
    await demo.waitFor(/Accepting new connections| bound to /);
    assert.ok(existsSync(join(cwd, 'demo', 'stunnel.conf')));
    assert.equal(statSync(join(cwd, 'demo', 'key.pem')).mode & 0o077, 0);
    const { stdout } = await promisify(execFile)(peerPath('curl'), ['-sk', '--max-time', '5', 'https://127.0.0.1:8443/']);
    assert.equal(stdout, 'Hello through stunnel-ts\n');
    assert.ok(demo.lines.some((l) => l.includes('curl -k https://127.0.0.1:8443/')));
  });
});
