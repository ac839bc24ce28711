/**
 * @module bench/lib/tools
 * Which external programs the benchmark needs, and the Debian package that provides each.
 * The benchmark installs nothing: it names the package to install and stops (or skips an optional proxy).
 */
import { execFileSync } from 'node:child_process';

export const REQUIRED = Object.freeze([
  { command: 'wrk', pkg: 'wrk', why: 'HTTP load generator for the bulk and resumed workloads' },
  { command: 'nginx', pkg: 'nginx', why: 'the backend web server' },
  { command: 'openssl', pkg: 'openssl', why: 'generates the RSA and ECDSA certificates' },
  { command: 'taskset', pkg: 'util-linux', why: 'pins the proxy to CPU 0 and the load to CPU 1' },
  { command: 'prlimit', pkg: 'util-linux', why: 'sets the proxy\'s descriptor limit' },
]);

/** Absolute path of `command` on PATH, or null. */
export function which(command) {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** A message naming every missing required tool and its package, or null when all are there. */
export function missingTools(lookup = which) {
  const missing = REQUIRED.filter((t) => !lookup(t.command));
  if (missing.length === 0) return null;
  const packages = [...new Set(missing.map((t) => t.pkg))].join(' ');
  return [
    'bench: missing tools:',
    ...missing.map((t) => `  ${t.command} (Debian package ${t.pkg}) — ${t.why}`),
    `Install them with: apt-get install ${packages}`,
  ].join('\n');
}

