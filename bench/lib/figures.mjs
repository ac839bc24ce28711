/**
 * @module bench/lib/figures
 * Which figures the table shows, how each is read out of the workloads' measurements, and the
 * targets stunnel-ts is held to. Pure: measurements in, figure rows out.
 */

export const TARGET_PROXY = 'stunnel-ts';

/**
 * One row per figure: the workload's measurement key, how to read the value, its unit and target.
 * `ratio: false` rows are counts or scaling factors, where a ratio to stunnel means nothing.
 */
export const FIGURE_SPECS = Object.freeze([
  { id: 'bulk.cpu', key: 'bulk', label: '1 bulk: proxy CPU per GB', unit: 's/GB', read: (m) => m.cpuSecondsPerGB, target: { maxRatio: 0.7 } },
  { id: 'bulk.user', key: 'bulk', label: '1 bulk: … of which user', unit: 's/GB', read: (m) => m.userSecondsPerGB },
  { id: 'bulk.system', key: 'bulk', label: '1 bulk: … of which kernel', unit: 's/GB', read: (m) => m.systemSecondsPerGB },
  { id: 'bulk.rate', key: 'bulk', label: '1 bulk: throughput', unit: 'MB/s', digits: 0, read: (m) => m.megabytesPerSecond },
  { id: 'bulk.busy', key: 'bulk', label: '1 bulk: proxy CPU busy', unit: 'cores', read: (m) => m.cpuBusy, ratio: false },
  { id: 'full.rsa', key: 'full-rsa', label: '2a full handshake RSA-2048', unit: 'CPU ms/conn', read: (m) => m.cpuMsPerConnection, target: { maxRatio: 0.8 } },
  { id: 'full.ecdsa', key: 'full-ecdsa', label: '2a full handshake ECDSA P-256', unit: 'CPU ms/conn', read: (m) => m.cpuMsPerConnection, target: { maxRatio: 0.8 } },
  { id: 'resumed.wrk', key: 'resumed', label: '2b conn per 1 KB request (wrk)', unit: 'CPU ms/conn', read: (m) => m.wrkCpuMsPerConnection, target: { maxRatio: 0.4 } },
  { id: 'resumed.wrk.rate', key: 'resumed', label: '2b conn per 1 KB request (wrk)', unit: 'conn/s', digits: 0, read: (m) => m.wrkConnectionsPerSecond },
  { id: 'resumed.reuse', key: 'resumed', label: '2b every conn resumed (s_time -reuse)', unit: 'CPU ms/conn', read: (m) => m.reuseCpuMsPerConnection },
  { id: 'idle.rss', key: 'idle', label: '3 idle: RSS per tunnel', unit: 'KB', digits: 1, read: (m) => m.kbPerTunnel, target: { max: 30 } },
  { id: 'scale.refused', key: 'scale', label: '4 scale: tunnels refused', unit: 'of N', digits: 0, read: (m) => m.failed, target: { max: 0 }, ratio: false },
  { id: 'scale.rss', key: 'scale', label: '4 scale: proxy RSS with N tunnels', unit: 'MB', digits: 0, read: (m) => m.rssWith / 1048576 },
  { id: 'cores.bulk1', key: 'cores-1', label: '5 cores: bulk, 1 worker', unit: 'MB/s', digits: 0, read: (m) => m.megabytesPerSecond },
  { id: 'cores.bulk2', key: 'cores-2', label: '5 cores: bulk, 2 workers', unit: 'MB/s', digits: 0, read: (m) => m.megabytesPerSecond },
  { id: 'cores.bulkScale', key: ['cores-1', 'cores-2'], label: '5 cores: bulk scaling 2÷1', unit: '×', read: (a, b) => b.megabytesPerSecond / a.megabytesPerSecond, target: { min: 1.8 }, ratio: false },
  { id: 'cores.conn1', key: 'cores-1', label: '5 cores: full RSA handshakes, 1 worker', unit: 'conn/s', digits: 0, read: (m) => m.connectionsPerSecond },
  { id: 'cores.conn2', key: 'cores-2', label: '5 cores: full RSA handshakes, 2 workers', unit: 'conn/s', digits: 0, read: (m) => m.connectionsPerSecond },
  { id: 'cores.connScale', key: ['cores-1', 'cores-2'], label: '5 cores: handshake scaling 2÷1', unit: '×', read: (a, b) => b.connectionsPerSecond / a.connectionsPerSecond, target: { min: 1.8 }, ratio: false },
]);

/**
 * `measurements[key][proxy]` is a workload result, or { skipped: reason } / { error: message }.
 * Returns figure rows for report.formatTable, keeping only rows whose workload ran.
 */
export function buildFigures(measurements, proxies, { scaleTunnels } = {}) {
  const rows = [];
  for (const spec of FIGURE_SPECS) {
    const keys = Array.isArray(spec.key) ? spec.key : [spec.key];
    if (!keys.every((k) => measurements[k])) continue;
    const values = {};
    const notes = {};
    for (const proxy of proxies) {
      const results = keys.map((k) => measurements[k][proxy]);
      const problem = results.findIndex((r) => !r || r.error || r.skipped);
      if (problem >= 0) {
        const r = results[problem];
        values[proxy] = null;
        notes[proxy] = r?.skipped ?? (r?.error ? 'failed' : 'not run');
        continue;
      }
      const value = spec.read(...results);
      values[proxy] = Number.isFinite(value) ? value : null;
    }
    const label = scaleTunnels ? spec.label.replace(/\bN\b/, String(scaleTunnels)) : spec.label;
    const unit = scaleTunnels ? spec.unit.replace(/\bN\b/, String(scaleTunnels)) : spec.unit;
    rows.push({
      id: spec.id,
      label,
      unit,
      digits: spec.digits,
      ratio: spec.ratio,
      values,
      notes,
      ...(spec.target ? { target: spec.target, targetFor: TARGET_PROXY } : {}),
    });
  }
  return rows;
}
