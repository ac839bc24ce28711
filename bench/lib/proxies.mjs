/**
 * @module bench/lib/proxies
 * The proxies under test, one entry each: whether it is installed, and how to start it with a
 * fresh config in its own temp dir — TLS on an accept port, plain TCP to the backend. Each start
 * runs under `prlimit --nofile` and, when pinned, `taskset -c 0` (both exec, so the pid we hold is
 * the proxy's own); resolves once the proxy accepts TCP connections.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from './processes.mjs';
import { freePort, waitForPort } from './ports.mjs';
import { which } from './tools.mjs';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const STUNNEL_TS_BIN = join(ROOT, 'bin/stunnel-ts');
const STUNNEL_TS_CLI = join(ROOT, 'dist/lib/cli.js');
const NODE_PIPE = join(ROOT, 'bench/proxies/node-pipe.mjs');
const NGINX_STREAM_MODULE = '/usr/share/nginx/modules/ngx_stream_module.so';

/** The stunnel.conf both stunnel and stunnel-ts get (stunnel-ts adds `workers` when asked). */
export function stunnelConf({ acceptPort, backendPort, certFile, keyFile, workers, extraGlobals = [] }) {
  return [
    '; written by the stunnel-ts benchmark',
    'foreground = yes',
    'pid =',
    // Without a syslog daemon, syslog(3) with LOG_CONS writes every line to /dev/console —
    // a cost a benchmark should not charge to a proxy. Log lines still go to stderr.
    'syslog = no',
    ...(workers ? [`workers = ${workers}`] : []),
    ...extraGlobals,
    '',
    '[bench]',
    `accept = 127.0.0.1:${acceptPort}`,
    `connect = 127.0.0.1:${backendPort}`,
    `cert = ${certFile}`,
    `key = ${keyFile}`,
    '',
  ].join('\n');
}

function wrap(argv, { pinned, nofile }) {
  return ['prlimit', [`--nofile=${nofile}:${nofile}`, ...(pinned ? ['taskset', '-c', '0'] : []), ...argv]];
}

async function launch(name, ctx, argv, extra = {}) {
  const [command, args] = wrap(argv, ctx);
  const proc = start(command, args, { logFile: join(ctx.dir, `${name}.log`), ...extra });
  await waitForPort(ctx.acceptPort, proc, name);
  return proc;
}

export const PROXY_DEFS = {
  'stunnel-ts': {
    description: 'stunnel-ts (this project), node bin/stunnel-ts',
    unavailable: () => (existsSync(STUNNEL_TS_CLI) ? null : 'not built (run npm run build)'),
    supportsWorkers: true,
    workerProcesses: true, // workers = N forks N processes
    start(ctx) {
      const conf = join(ctx.dir, 'stunnel-ts.conf');
      // STUNNEL_TS_BENCH_GLOBALS: global lines for stunnel-ts only, e.g. "metrics = 127.0.0.1:0"
      // to measure what an extension costs (lines separated by ';;').
      const extraGlobals = (process.env.STUNNEL_TS_BENCH_GLOBALS ?? '').split(';;').map((l) => l.trim()).filter(Boolean);
      writeFileSync(conf, stunnelConf({ ...ctx, workers: ctx.workers, extraGlobals }));
      const node = [process.execPath, ...(ctx.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfileDir] : [])];
      return launch('stunnel-ts', ctx, [...node, STUNNEL_TS_BIN, conf], { cwd: ROOT });
    },
  },
  stunnel: {
    description: 'stunnel 5.68 (Debian), /usr/bin/stunnel4',
    unavailable: () => (which('stunnel4') ? null : 'not installed (apt-get install stunnel4)'),
    supportsWorkers: false, // one process, a thread per connection
    start(ctx) {
      const conf = join(ctx.dir, 'stunnel.conf');
      writeFileSync(conf, stunnelConf({ ...ctx, workers: null }));
      return launch('stunnel', ctx, ['stunnel4', conf]);
    },
  },
  'node-pipe': {
    description: 'plain Node pipe: tls.createServer + net.connect + pipe (bench/proxies/node-pipe.mjs)',
    unavailable: () => null,
    supportsWorkers: true, // node:cluster
    workerProcesses: true,
    start(ctx) {
      const node = [process.execPath, ...(ctx.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfileDir] : [])];
      const args = [String(ctx.acceptPort), String(ctx.backendPort), ctx.certFile, ctx.keyFile, String(ctx.workers ?? 1)];
      return launch('node-pipe', ctx, [...node, NODE_PIPE, ...args]);
    },
  },
  haproxy: {
    description: 'HAProxy (Debian), TCP mode with TLS termination',
    unavailable: () => (which('haproxy') ? null : 'not installed (optional: apt-get install haproxy)'),
    supportsWorkers: true, // nbthread
    start(ctx) {
      const pem = join(ctx.dir, 'haproxy.pem');
      writeFileSync(pem, readFileSync(ctx.certFile, 'utf8') + readFileSync(ctx.keyFile, 'utf8'));
      const conf = join(ctx.dir, 'haproxy.cfg');
      writeFileSync(conf, [
        'global', '  maxconn 9700' /* 2 fds per tunnel must fit under nofile 20000 */, `  nbthread ${ctx.workers ?? 1}`,
        'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 600s', '  timeout server 600s',
        'frontend bench', `  bind 127.0.0.1:${ctx.acceptPort} ssl crt ${pem}`, '  default_backend origin',
        'backend origin', `  server origin 127.0.0.1:${ctx.backendPort}`, '',
      ].join('\n'));
      return launch('haproxy', ctx, ['haproxy', '-db', '-f', conf]);
    },
  },
  'nginx-stream': {
    description: 'nginx stream module (Debian), TLS termination',
    unavailable: () =>
      !which('nginx') ? 'nginx not installed' : existsSync(NGINX_STREAM_MODULE) ? null : 'stream module not installed (optional: apt-get install libnginx-mod-stream)',
    supportsWorkers: true, // worker_processes
    workerProcesses: true,
    start(ctx) {
      const conf = join(ctx.dir, 'nginx-stream.conf');
      writeFileSync(conf, [
        `load_module ${NGINX_STREAM_MODULE};`, 'daemon off;', `worker_processes ${ctx.workers ?? 1};`,
        'worker_rlimit_nofile 20000;', `pid ${ctx.dir}/nginx-stream.pid;`, `error_log ${ctx.dir}/nginx-stream-error.log warn;`,
        'events { worker_connections 20000; }',
        'stream { server {', `  listen 127.0.0.1:${ctx.acceptPort} ssl backlog=4096;`,
        `  ssl_certificate ${ctx.certFile};`, `  ssl_certificate_key ${ctx.keyFile};`,
        `  proxy_pass 127.0.0.1:${ctx.backendPort};`, '} }', '',
      ].join('\n'));
      return launch('nginx-stream', ctx, ['nginx', '-c', conf, '-p', ctx.dir, '-e', join(ctx.dir, 'nginx-stream-error.log')]);
    },
  },
};

/**
 * Starts proxy `name` in `dir` forwarding to `backendPort` with certificate `cert`.
 * Options: pinned (CPU 0, default true), workers (null: the proxy's default), nofile, cpuProfileDir.
 * Resolves with { name, pid, port, proc, stop() }.
 */
export async function startProxy(name, { dir, backendPort, cert, pinned = true, workers = null, nofile = 20000, cpuProfileDir = null }) {
  const acceptPort = await freePort();
  const ctx = { dir, backendPort, acceptPort, certFile: cert.certFile, keyFile: cert.keyFile, pinned, workers, nofile, cpuProfileDir };
  const proc = await PROXY_DEFS[name].start(ctx);
  return { name, pid: proc.pid, port: acceptPort, proc, stop: () => proc.stop() };
}
