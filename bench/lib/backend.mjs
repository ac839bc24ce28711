/**
 * @module bench/lib/backend
 * The backend every proxy forwards to: a private nginx (own nginx.conf in a temp dir, `daemon off`,
 * one worker, pinned to CPU 1) serving a 10 MB file and a 1 KB file from that temp dir over plain HTTP.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { start } from './processes.mjs';
import { freePort, waitForPort } from './ports.mjs';

export const BULK_PATH = '/10M.bin';
export const SMALL_PATH = '/1k.bin';
export const BULK_BYTES = 10 * 1024 * 1024;

export function nginxConf(dir, port) {
  return `# Private backend for the stunnel-ts benchmark.
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 12000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fastcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${dir}/www;
  }
}
`;
}

/** Starts nginx in `dir` (a temp dir); resolves with { port, proc } once it accepts connections. */
export async function startBackend(dir, cpuList = '1') {
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, BULK_PATH.slice(1)), randomBytes(BULK_BYTES));
  writeFileSync(join(www, SMALL_PATH.slice(1)), randomBytes(1024));
  // nginx workers run as `nobody`: the temp dir (mode 0700 from mkdtemp) must be traversable.
  chmodSync(dir, 0o755);
  chmodSync(www, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, port));
  const args = ['-c', conf, '-p', dir, '-e', join(dir, 'nginx-error.log')];
  const proc = start('taskset', ['-c', cpuList, 'nginx', ...args], { logFile: join(dir, 'nginx.out') });
  await waitForPort(port, proc, 'nginx (backend)');
  return { port, proc };
}
