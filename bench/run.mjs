#!/usr/bin/env node
/**
 * @module bench/run
 * `npm run bench`: stunnel-ts side by side with Debian's stunnel 5.68 and a plain Node pipe
 * (plus HAProxy and nginx stream when installed) over the same workloads in the same run.
 * Prints a table with each figure's ratio to stunnel's and writes bench/results/bench-*.json.
 * See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, USAGE } from './lib/options.mjs';
import { missingTools } from './lib/tools.mjs';
import { cleanupAll, installCleanupHooks, keepTempDirs, makeTempDir } from './lib/processes.mjs';
import { PROXY_DEFS } from './lib/proxies.mjs';
import { makeCertificate } from './lib/certs.mjs';
import { startBackend } from './lib/backend.mjs';
import * as workloads from './lib/workloads.mjs';
import { buildFigures } from './lib/figures.mjs';
import { formatTable, withRatios } from './lib/report.mjs';

const BENCH_DIR = resolve(fileURLToPath(import.meta.url), '..');
const DEFAULT_ORDER = ['stunnel-ts', 'stunnel', 'node-pipe', 'haproxy', 'nginx-stream'];

const say = (text) => process.stderr.write(`${text}\n`);

/** The proxies to run: those asked for (each must be available), or every available one. */
function chooseProxies(asked) {
  const chosen = [];
  const skipped = {};
  for (const name of asked ?? DEFAULT_ORDER) {
    const reason = PROXY_DEFS[name].unavailable();
    if (reason) skipped[name] = reason;
    else chosen.push(name);
  }
  return { chosen, skipped };
}

function stunnelVersion() {
  try {
    return execFileSync('stunnel4', ['-version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).match(/stunnel \S+/)?.[0];
  } catch (error) {
    return `${error.stderr ?? ''}`.match(/stunnel \S+/)?.[0] ?? null;
  }
}

/** Runs `fn` for one proxy; a failure is recorded (and shown in the table) instead of ending the run. */
async function attempt(label, fn) {
  const started = Date.now();
  try {
    const result = await fn();
    say(`  ${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return result;
  } catch (error) {
    say(`  ${label}: FAILED — ${error.message.split('\n').slice(0, 8).join('\n    ')}`);
    return { error: error.message };
  }
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    say(`bench: ${error.message}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const missing = missingTools();
  if (missing) {
    say(missing);
    process.exit(2);
  }
  installCleanupHooks();
  if (options.keep) keepTempDirs();
  // The harness itself belongs with the load, on CPU 1, away from the proxy on CPU 0.
  execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

  const { chosen: proxies, skipped } = chooseProxies(options.proxies);
  for (const [name, reason] of Object.entries(skipped)) say(`bench: skipping ${name}: ${reason}`);
  if (proxies.length === 0) throw new Error('no proxy to measure');
  if (!proxies.includes('stunnel')) say('bench: stunnel is not in this run — ratios to stunnel will be empty');

  const runStarted = Date.now();
  const runDir = makeTempDir('stunnel-bench-');
  say(`bench: ${options.quick ? 'quick' : 'default'} run of ${options.workloads.join(', ')} on ${proxies.join(', ')}`);
  const certs = { rsa: makeCertificate(runDir, 'rsa'), ecdsa: makeCertificate(runDir, 'ecdsa') };
  const backend = await startBackend(makeTempDir('stunnel-bench-backend-'));
  const env = { options, runDir, certs, backendPort: backend.port };

  const measurements = {};
  const record = (key, proxy, result) => {
    measurements[key] ??= {};
    measurements[key][proxy] = result;
  };
  const each = async (key, label, fn) => {
    say(`${label}`);
    for (const proxy of proxies) record(key, proxy, await attempt(proxy, () => fn(proxy)));
  };

  for (const workload of options.workloads) {
    if (workload === 'bulk') await each('bulk', `1 bulk: wrk -c100 -t1 -d${options.bulkSeconds}s, 10 MB keep-alive downloads`, (p) => workloads.bulk(env, p));
    if (workload === 'full') {
      await each('full-rsa', `2a full handshakes, RSA-2048, ${options.connSeconds}s`, (p) => workloads.fullHandshakes(env, p, 'rsa'));
      await each('full-ecdsa', `2a full handshakes, ECDSA P-256, ${options.connSeconds}s`, (p) => workloads.fullHandshakes(env, p, 'ecdsa'));
    }
    if (workload === 'resumed') await each('resumed', `2b a connection per 1 KB request, resumed, ${options.connSeconds}s + ${options.connSeconds}s`, (p) => workloads.resumedHandshakes(env, p));
    if (workload === 'idle') await each('idle', `3 idle: ${options.idleTunnels} tunnels held`, (p) => workloads.idle(env, p));
    if (workload === 'scale') await each('scale', `4 scale: ${options.scaleTunnels} tunnels under ulimit -n 20000`, (p) => workloads.scale(env, p));
    if (workload === 'cores') {
      say(`5 cores: unpinned, workers = 1 and 2, ${options.coresSeconds}s each for bulk and handshakes`);
      for (const proxy of proxies) {
        if (!PROXY_DEFS[proxy].supportsWorkers) {
          record('cores-1', proxy, await attempt(`${proxy} (one process, threads)`, () => workloads.cores(env, proxy, null)));
          record('cores-2', proxy, { skipped: 'no workers option' });
          continue;
        }
        record('cores-1', proxy, await attempt(`${proxy} workers=1`, () => workloads.cores(env, proxy, 1)));
        const two = await attempt(`${proxy} workers=2`, () => workloads.cores(env, proxy, 2));
        if (two.error && /workers/i.test(two.error)) record('cores-2', proxy, { ...two, skipped: 'refuses workers = 2' });
        else if (!two.error && PROXY_DEFS[proxy].workerProcesses && two.processes < 2) {
          // Accepted the option but ran as one process: the figure would be one worker's.
          record('cores-2', proxy, { ...two, skipped: 'workers = 2 ran as 1 process' });
        } else record('cores-2', proxy, two);
      }
    }
  }

  let profiles = null;
  if (options.profile) {
    say('profile: bulk and resumed connections under node --cpu-prof');
    profiles = {};
    for (const proxy of proxies.filter((p) => p === 'node-pipe' || p === 'stunnel-ts')) {
      for (const kind of ['bulk', 'connections']) {
        profiles[`${proxy} ${kind}`] = await attempt(`${proxy} ${kind}`, () => workloads.profileRun(env, proxy, kind));
      }
    }
  }
  await backend.proc.stop();

  const figures = buildFigures(measurements, proxies, { scaleTunnels: options.scaleTunnels });
  const table = formatTable(figures, proxies);
  console.log(`\n${table}\n`);
  console.log('Ratios are to stunnel in this run; ✓/✗ mark stunnel-ts against its target.');
  if (profiles) {
    for (const [proxy, result] of Object.entries(profiles)) {
      if (result.error) continue;
      for (const { file, top } of result) {
        console.log(`\nTop self time, ${proxy} workload (${file.split('/').pop()}):`);
        for (const { name, percent } of top) console.log(`  ${percent.toFixed(1).padStart(5)}%  ${name}`);
      }
    }
  }

  const report = {
    startedAt: new Date(runStarted).toISOString(),
    durationSeconds: (Date.now() - runStarted) / 1000,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version, stunnel: stunnelVersion() },
    options,
    proxies: Object.fromEntries(proxies.map((p) => [p, PROXY_DEFS[p].description])),
    skipped,
    figures: withRatios(figures, proxies),
    measurements,
    profiles,
  };
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `bench-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON: ${file}  (run took ${report.durationSeconds.toFixed(0)} s)`);
  if (options.keep) console.log(`Temp dir kept: ${runDir}`);
}

main()
  .catch((error) => {
    say(`bench: ${error.stack ?? error.message}`);
    process.exitCode = 1;
  })
  .finally(cleanupAll);
