/**
 * @module bench/lib/profile
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and names where the time went: self time per
 * function, as a share of all samples. Native work the profiler cannot see into — OpenSSL, the
 * kernel's socket calls, libuv — shows up as "(program)"; "(idle)" is time the event loop waited.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** Top `limit` entries { name, percent } by self samples, idle excluded from neither total nor list. */
export function summarizeProfile(profile, limit = 15) {
  const selfHits = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  if (profile.samples?.length) {
    for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  } else {
    for (const n of profile.nodes) counts.set(n.id, n.hitCount ?? 0);
  }
  let total = 0;
  for (const [id, hits] of counts) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? ` ${basename(url)}:${lineNumber + 1}` : '';
    const name = `${functionName || '(anonymous)'}${where}`;
    selfHits.set(name, (selfHits.get(name) ?? 0) + hits);
    total += hits;
  }
  return [...selfHits.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, hits]) => ({ name, percent: total ? (100 * hits) / total : 0 }));
}

/** Summaries of every .cpuprofile in `dir` (one per process: cluster workers write their own). */
export function summarizeProfileDir(dir, limit = 15) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ file: join(dir, f), top: summarizeProfile(JSON.parse(readFileSync(join(dir, f), 'utf8')), limit) }));
}
