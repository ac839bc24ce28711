/**
 * @module spec/helpers/metrics
 * Scraping the `metrics` endpoint with real clients: curl for HTTP, promtool for the
 * Prometheus format, and a small reader of the text format to compare values.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Running } from './daemon';

const run = promisify(execFile);

/** The endpoint's port, from its `Metrics endpoint bound to HOST:PORT` line. */
export async function metricsPort(daemon: Running): Promise<number> {
  return Number((await daemon.waitFor(/Metrics endpoint bound to .*:(\d+)$/))[1]);
}

/** GET `path` with curl: the status and the body. */
export async function curlGet(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '--max-time', '10', '-w', '\n%{http_code}', `http://${host}:${port}${path}`]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** `promtool check metrics` on `text`: its exit code and what it said. */
export function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** `name{a="x",b="y"}` with the labels sorted: the key `samples` uses. */
export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`;
}

/** Every sample of a text-format scrape, by seriesKey. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.set(seriesKey(m[1], labels), Number(m[3]));
  }
  return out;
}

/** One sample's value (undefined when the scrape lacks it). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(text).get(seriesKey(name, labels));
}
