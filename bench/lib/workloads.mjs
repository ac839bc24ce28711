/**
 * @module bench/lib/workloads
 * The five workloads. Each runs against one proxy at a time (fresh proxy, fresh config) and
 * returns plain measurements; run.mjs turns them into figures. The proxy sits on CPU 0, load
 * generators and backends on CPU 1 (except `cores`, where nothing is pinned).
 */
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { start } from './processes.mjs';
import { startProxy } from './proxies.mjs';
import { processTree, treeCpuTimes, treeRssBytes } from './procfs.mjs';
import { runWrk } from './wrk.mjs';
import { runSTime } from './stime.mjs';
import { BULK_PATH, SMALL_PATH } from './backend.mjs';
import { summarizeProfileDir } from './profile.mjs';

const CLIENTS = resolve(fileURLToPath(import.meta.url), '../../clients');
const LOAD_CPU = '1';
/** Time for a proxy to finish closing what the load left behind before the "after" reading. */
const SETTLE_MS = 300;

function proxyDir(env, name) {
  return mkdtempSync(join(env.runDir, `${name}-`));
}

/** Starts proxy `name` with `opts`, runs fn(proxy), always stops the proxy. */
async function withProxy(env, name, opts, fn) {
  const dir = proxyDir(env, name);
  const proxy = await startProxy(name, { dir, backendPort: env.backendPort, cert: env.certs.rsa, ...opts });
  try {
    return await fn(proxy, dir);
  } finally {
    await proxy.stop();
  }
}

/** CPU seconds (total, user, system) the proxy's process tree spent while `fn` ran, plus a short settle. */
async function cpuDuring(pid, fn) {
  const before = treeCpuTimes(pid);
  const result = await fn();
  await sleep(SETTLE_MS);
  const after = treeCpuTimes(pid);
  const user = after.user - before.user;
  const system = after.system - before.system;
  return { cpu: user + system, user, system, result };
}

function nodeClient(script, args, cpuList = LOAD_CPU) {
  const argv = [process.execPath, join(CLIENTS, script), ...args.map(String)];
  return cpuList ? start('taskset', ['-c', cpuList, ...argv], { stdout: 'pipe' }) : start(argv[0], argv.slice(1), { stdout: 'pipe' });
}

/** 1. Bulk: 100 keep-alive connections downloading 10 MB files for `bulkSeconds`. */
export async function bulk(env, name) {
  return withProxy(env, name, {}, async (proxy, dir) => {
    await runWrk({ dir, port: proxy.port, path: BULK_PATH, seconds: 1, connections: 100 }); // warm-up
    const { cpu, user, system, result } = await cpuDuring(proxy.pid, () =>
      runWrk({ dir, port: proxy.port, path: BULK_PATH, seconds: env.options.bulkSeconds, connections: 100 }));
    const gigabytes = result.bytes / 1e9;
    return {
      cpuSecondsPerGB: cpu / gigabytes,
      userSecondsPerGB: user / gigabytes,
      systemSecondsPerGB: system / gigabytes,
      megabytesPerSecond: result.bytes / 1e6 / result.seconds,
      cpuBusy: cpu / result.seconds,
      wrk: result,
    };
  });
}

/**
 * A workload once more with the proxy under node --cpu-prof (Node proxies only): `bulk` (wrk
 * downloads) or `connections` (s_time -reuse, a resumed connection per 1 KB request).
 * Returns the top self-time functions of each profiled process.
 */
export async function profileRun(env, name, kind) {
  const profileDir = mkdtempSync(join(env.runDir, `profile-${name}-${kind}-`));
  const seconds = Math.max(3, Math.round(env.options.bulkSeconds / 2));
  await withProxy(env, name, { cpuProfileDir: profileDir }, async (proxy, dir) => {
    if (kind === 'bulk') await runWrk({ dir, port: proxy.port, path: BULK_PATH, seconds, connections: 100 });
    else await runSTime({ port: proxy.port, path: SMALL_PATH, seconds, mode: 'reuse' });
  });
  return summarizeProfileDir(profileDir, 20);
}

/** 2a. Full handshakes (no resumption), each with one 1 KB request, with an RSA or ECDSA certificate. */
export async function fullHandshakes(env, name, kind) {
  return withProxy(env, name, { cert: env.certs[kind] }, async (proxy) => {
    await runSTime({ port: proxy.port, path: SMALL_PATH, seconds: 1 }); // warm-up
    const { cpu, result } = await cpuDuring(proxy.pid, () => runSTime({ port: proxy.port, path: SMALL_PATH, seconds: env.options.connSeconds }));
    return { cpuMsPerConnection: (cpu * 1000) / result.connections, connectionsPerSecond: result.connections / result.seconds, client: result };
  });
}

/** 2b. A new connection per 1 KB request, resuming sessions as the client does: wrk, and s_time -reuse (every one resumed). */
export async function resumedHandshakes(env, name) {
  return withProxy(env, name, {}, async (proxy, dir) => {
    const seconds = env.options.connSeconds;
    await runWrk({ dir, port: proxy.port, path: SMALL_PATH, seconds: 1, connections: 8, closeEach: true }); // warm-up
    const wrk = await cpuDuring(proxy.pid, () =>
      runWrk({ dir, port: proxy.port, path: SMALL_PATH, seconds, connections: 8, closeEach: true }));
    const reuse = await cpuDuring(proxy.pid, () => runSTime({ port: proxy.port, path: SMALL_PATH, seconds, mode: 'reuse' }));
    return {
      wrkCpuMsPerConnection: (wrk.cpu * 1000) / wrk.result.requests,
      wrkConnectionsPerSecond: wrk.result.requests / wrk.result.seconds,
      reuseCpuMsPerConnection: (reuse.cpu * 1000) / reuse.result.connections,
      reuseConnectionsPerSecond: reuse.result.connections / reuse.result.seconds,
      wrk: wrk.result,
      client: reuse.result,
    };
  });
}

/** Opens `count` tunnels through the proxy with a holding backend; returns RSS before and with them. */
async function holdTunnels(env, name, count) {
  const backend = nodeClient('hold-backend.mjs', []);
  try {
    const { port: holdPort } = await backend.waitForMessage((m) => m.type === 'listening', 10000, 'the holding backend');
    const dir = proxyDir(env, name);
    const proxy = await startProxy(name, { dir, backendPort: holdPort, cert: env.certs.rsa, nofile: 20000 });
    try {
      const warm = nodeClient('hold-client.mjs', [proxy.port, 50, 10]);
      await warm.waitForMessage((m) => m.type === 'held', 60000, 'the warm-up client');
      await warm.stop();
      await sleep(1000);
      const rssBefore = treeRssBytes(proxy.pid);
      const client = nodeClient('hold-client.mjs', [proxy.port, count, 50]);
      try {
        const held = await client.waitForMessage((m) => m.type === 'held', 120000 + count * 20, 'the tunnel client');
        await sleep(1000);
        const rssWith = treeRssBytes(proxy.pid);
        return { ...held, requested: count, rssBefore, rssWith, kbPerTunnel: (rssWith - rssBefore) / 1024 / Math.max(1, held.opened) };
      } finally {
        await client.stop();
      }
    } finally {
      await proxy.stop();
    }
  } finally {
    await backend.stop();
  }
}

/** 3. Idle: RSS per held tunnel. */
export function idle(env, name) {
  return holdTunnels(env, name, env.options.idleTunnels);
}

/** 4. Scale: `scaleTunnels` tunnels under ulimit -n 20000: how many were refused, and RSS. */
export function scale(env, name) {
  return holdTunnels(env, name, env.options.scaleTunnels);
}

/** 5. Cores: bulk MB/s and full-handshake connections/s with `workers` = 1 and 2, nothing pinned. */
export async function cores(env, name, workers) {
  return withProxy(env, name, { pinned: false, workers }, async (proxy, dir) => {
    const seconds = env.options.coresSeconds;
    const wrk = await runWrk({ dir, port: proxy.port, path: BULK_PATH, seconds, connections: 100, cpuList: null });
    const conns = await runSTime({ port: proxy.port, path: SMALL_PATH, seconds, parallel: 8, cpuList: null });
    return {
      processes: processTree(proxy.pid).length, // shows whether `workers` took effect
      megabytesPerSecond: wrk.bytes / 1e6 / wrk.seconds,
      connectionsPerSecond: conns.connections / conns.seconds,
      wrk,
      client: conns,
    };
  });
}
