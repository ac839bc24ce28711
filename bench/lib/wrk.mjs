/**
 * @module bench/lib/wrk
 * Runs wrk (the HTTP load generator) and reads its summary from a JSON line printed by a
 * small Lua `done` hook, so byte and request counts are exact rather than wrk's rounded text.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start } from './processes.mjs';

const SUMMARY_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"type":"wrk","bytes":%d,"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d}\\n',
    summary.bytes, summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/** The summary object from wrk's stdout, or throws with wrk's own text when the hook did not run. */
export function parseWrkOutput(text) {
  const line = text.split('\n').find((l) => l.startsWith('{"type":"wrk"'));
  if (!line) throw new Error(`wrk printed no summary:\n${text.trim()}`);
  const summary = JSON.parse(line);
  return { ...summary, seconds: summary.durationUs / 1e6 };
}

/**
 * wrk against https://127.0.0.1:port/path for `seconds`, `connections` connections, one thread.
 * `closeEach`: a new connection (and TLS handshake or resumption) per request.
 * `cpuList`: taskset CPU list for wrk, or null for no pinning.
 */
export async function runWrk({ dir, port, path, seconds, connections, closeEach = false, cpuList = '1' }) {
  const script = join(dir, 'wrk-summary.lua');
  writeFileSync(script, SUMMARY_LUA);
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script];
  if (closeEach) args.push('-H', 'Connection: close');
  args.push(`https://127.0.0.1:${port}${path}`);
  const [command, argv] = cpuList ? ['taskset', ['-c', cpuList, 'wrk', ...args]] : ['wrk', args];
  const proc = start(command, argv, { stdout: 'pipe' });
  let text = '';
  proc.child.stdout.on('data', (chunk) => { text += chunk; });
  proc.child.stderr.on('data', (chunk) => { text += chunk; });
  const { code } = await proc.exited;
  if (code !== 0) throw new Error(`wrk exited with code ${code}:\n${text.trim()}`);
  return parseWrkOutput(text);
}
