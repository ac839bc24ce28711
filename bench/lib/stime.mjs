/**
 * @module bench/lib/stime
 * Connection load from `openssl s_time`: each process opens connections one after another, each
 * with one HTTP request for a small file (-www), either a full handshake every time (-new) or
 * resuming one session (-reuse). Several run side by side to keep the proxy busy. C, so the
 * client spends less CPU per connection than a Node client would.
 */
import { start } from './processes.mjs';

/** Connections made, from s_time's "N connections in T real seconds" line; null if absent. */
export function parseSTimeOutput(text) {
  const m = text.match(/(\d+) connections in \d+ real seconds/);
  return m ? Number(m[1]) : null;
}

/**
 * `parallel` s_time processes for `seconds` against 127.0.0.1:port. mode: 'new' or 'reuse'.
 * cpuList: taskset CPU list, or null for no pinning. Resolves with { connections, seconds }.
 */
export async function runSTime({ port, path, seconds, mode = 'new', parallel = 4, cpuList = '1' }) {
  const args = ['s_time', '-connect', `127.0.0.1:${port}`, `-${mode}`, '-www', path, '-time', String(seconds)];
  const started = performance.now();
  const runs = Array.from({ length: parallel }, async () => {
    const proc = cpuList ? start('taskset', ['-c', cpuList, 'openssl', ...args], { stdout: 'pipe' }) : start('openssl', args, { stdout: 'pipe' });
    let text = '';
    proc.child.stdout.on('data', (chunk) => { text += chunk; });
    proc.child.stderr.on('data', (chunk) => { text += chunk; });
    const { code } = await proc.exited;
    const connections = parseSTimeOutput(text);
    if (code !== 0 || connections == null) {
      throw new Error(`openssl s_time exited with code ${code}:\n${text.replace(/[*r]{20,}/g, '').trim().slice(-800)}`);
    }
    return connections;
  });
  const counts = await Promise.all(runs);
  return { connections: counts.reduce((a, b) => a + b, 0), seconds: (performance.now() - started) / 1000 };
}
