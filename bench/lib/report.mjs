/**
 * @module bench/lib/report
 * Turns measured figures into ratios against stunnel, target verdicts and a plain-text table.
 * Pure functions only: the table is what `npm run bench` prints, the same data goes to JSON.
 */

/** The proxy every ratio is taken against. */
export const REFERENCE = 'stunnel';

/** value / reference, or null when either is missing or the reference is 0. */
export function ratio(value, reference) {
  if (value == null || reference == null || !Number.isFinite(value) || !Number.isFinite(reference) || reference === 0) return null;
  return value / reference;
}

/** A number with `digits` significant decimals, thousands kept plain; '–' for missing. */
export function formatNumber(value, digits = 2) {
  if (value == null || !Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toString();
  if (Math.abs(value) >= 100) return value.toFixed(Math.max(0, digits - 2));
  if (Math.abs(value) >= 10) return value.toFixed(Math.max(0, digits - 1));
  return value.toFixed(digits);
}

/** "0.62×" or '' when there is no ratio. */
export function formatRatio(r) {
  return r == null ? '' : `${r.toFixed(2)}×`;
}

/**
 * Whether a value meets its target. A target is one of
 *   { maxRatio }  value / stunnel's ≤ maxRatio
 *   { max }       value ≤ max          { min } value ≥ min
 * Returns true/false, or null when it cannot be judged (no value, no reference).
 */
export function meetsTarget(target, value, reference) {
  if (!target || value == null || !Number.isFinite(value)) return null;
  if (target.maxRatio != null) {
    const r = ratio(value, reference);
    return r == null ? null : r <= target.maxRatio;
  }
  if (target.max != null) return value <= target.max;
  if (target.min != null) return value >= target.min;
  return null;
}

/** How a target reads in the table. */
export function describeTarget(target) {
  if (!target) return '';
  if (target.maxRatio != null) return `≤ ${target.maxRatio}× stunnel`;
  if (target.max != null) return `≤ ${target.max}`;
  if (target.min != null) return `≥ ${target.min}`;
  return '';
}

/** One table cell: the value, its ratio to stunnel's and, where the proxy has a target, ✓ or ✗. */
export function formatCell(figure, proxy) {
  const value = figure.values[proxy];
  const note = figure.notes?.[proxy];
  if (value == null) return note ? `(${note})` : '–';
  const reference = figure.values[REFERENCE];
  const parts = [formatNumber(value, figure.digits ?? 2)];
  if (proxy !== REFERENCE && figure.ratio !== false) {
    const r = formatRatio(ratio(value, reference));
    if (r) parts.push(`(${r})`);
  }
  if (figure.targetFor === proxy) {
    const ok = meetsTarget(figure.target, value, reference);
    if (ok != null) parts.push(ok ? '✓' : '✗');
  }
  return parts.join(' ');
}

function pad(text, width) {
  const length = [...text].length;
  return text + ' '.repeat(Math.max(0, width - length));
}

/**
 * The results table: one row per figure, one column per proxy, then the target.
 * `figures` items: { id, label, unit, values: {proxy: number|null}, notes?, target?, targetFor?, digits?, ratio? }.
 */
export function formatTable(figures, proxies) {
  const header = ['figure', ...proxies, 'target'];
  const rows = figures.map((f) => [
    `${f.label}${f.unit ? ` [${f.unit}]` : ''}`,
    ...proxies.map((p) => formatCell(f, p)),
    f.target ? `${f.targetFor ?? ''} ${describeTarget(f.target)}`.trim() : '',
  ]);
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...r[i]].length)));
  const line = (cells) => cells.map((c, i) => pad(c, widths[i])).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The JSON written to bench/results/: every figure with its ratios to stunnel filled in. */
export function withRatios(figures, proxies) {
  return figures.map((f) => ({
    ...f,
    ratios: Object.fromEntries(proxies.map((p) => [p, ratio(f.values[p], f.values[REFERENCE])])),
    verdict: f.targetFor ? meetsTarget(f.target, f.values[f.targetFor], f.values[REFERENCE]) : undefined,
  }));
}
