/**
 * The metrics endpoint on its own (lib/metrics/endpoint): /healthz turns to `503 draining`
 * with one call and `stunnel_draining` follows; a service without a listening socket is
 * named in a 503; HAProxy's `option httpchk GET /healthz` marks the instance down when the
 * drain begins.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsEndpoint, type MetricsJson } from '../../lib/metrics/endpoint';
import { Running } from '../helpers/daemon';
import { sample } from '../helpers/metrics';
import { assertPeers, skipWithout } from '../helpers/peers';

const ADDRESS = { kind: 'inet', host: '127.0.7.3', port: 0, text: '127.0.7.3:0' } as const;

/** What the serving processes report: `stunnel_listeners` per service. */
function listeners(counts: Record<string, number>): MetricsJson[] {
  return [[{
    name: 'stunnel_listeners', help: 'h', type: 'gauge' as never, aggregator: 'sum', collect: () => undefined,
    values: Object.entries(counts).map(([service, value]) => ({ labels: { service }, value })),
  }]];
}

const endpoints: MetricsEndpoint[] = [];
after(async () => {
  for (const endpoint of endpoints) await endpoint.close();
});

async function started(source: () => Promise<MetricsJson[]>): Promise<{ endpoint: MetricsEndpoint; base: string }> {
  const endpoint = new MetricsEndpoint(ADDRESS, source);
  endpoints.push(endpoint);
  return { endpoint, base: `http://${await endpoint.listen()}` };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

test('setDraining(true): /healthz says 503 draining and stunnel_draining is 1', async () => {
  const { endpoint, base } = await started(() => Promise.resolve(listeners({ web: 1 })));
  assert.deepEqual(await get(`${base}/healthz`), { status: 200, body: 'ok\n' });
  assert.equal(sample((await get(`${base}/metrics`)).body, 'stunnel_draining'), 0);
  endpoint.setDraining(true);
  assert.deepEqual(await get(`${base}/healthz`), { status: 503, body: 'draining\n' });
  assert.equal(sample((await get(`${base}/metrics`)).body, 'stunnel_draining'), 1);
});

test('a service without a listener is named in a 503', async () => {
  const { base } = await started(() => Promise.resolve(listeners({ web: 1, imap: 0, smtp: 0 })));
  assert.deepEqual(await get(`${base}/healthz`), { status: 503, body: 'no listener: [imap] [smtp]\n' });
});

test('reloads are counted by result', async () => {
  const { endpoint, base } = await started(() => Promise.resolve([]));
  endpoint.reloaded(true);
  endpoint.reloaded(false);
  endpoint.reloaded(false);
  const body = (await get(`${base}/metrics`)).body;
  assert.equal(sample(body, 'stunnel_config_reloads_total', { result: 'success' }), 1);
  assert.equal(sample(body, 'stunnel_config_reloads_total', { result: 'failure' }), 2);
});

test('HAProxy with option httpchk GET /healthz marks the instance down when the drain begins', { skip: skipWithout('haproxy') }, async (t) => {
  assertPeers('haproxy');
  let checks = 0;
  let firstCheck: () => void = () => undefined;
  const checked = new Promise<void>((resolve) => (firstCheck = resolve));
  const { endpoint, base } = await started(() => {
    if (++checks === 1) firstCheck();
    return Promise.resolve(listeners({ web: 1 }));
  });
  const port = new URL(base).port;
  const dir = mkdtempSync(join(tmpdir(), 'stunnel-ts-haproxy-'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global', '  log stderr format raw local0 info',
    'defaults', '  mode http', '  log global', '  timeout connect 1s', '  timeout client 1s', '  timeout server 1s',
    'frontend fe', `  bind unix@${join(dir, 'fe.sock')}`, '  default_backend be',
    'backend be', '  option httpchk GET /healthz', `  server s1 127.0.7.3:${port} check inter 100ms fall 1 rise 1`, '',
  ].join('\n'));
  const haproxy = new Running(spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] }));
  t.after(async () => {
    haproxy.child.kill('SIGTERM');
    await haproxy.exited;
    rmSync(dir, { recursive: true, force: true });
  });
  await checked;
  assert.equal(haproxy.lines.filter((l) => /be\/s1 is DOWN/.test(l)).length, 0, haproxy.lines.join('\n'));
  endpoint.setDraining(true);
  const down = await haproxy.waitFor(/Server be\/s1 is DOWN.*503/);
  assert.match(down.input!, /Layer7 wrong status, code: 503/);
});
