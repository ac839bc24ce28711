/**
 * @module spec/helpers/fuzz
 * A seeded configuration fuzzer: mutates real stunnel.conf files (line drops, swaps,
 * duplicates, byte flips, 1 MB values, 2^63 numbers, binary garbage, NULs, invalid
 * UTF-8, random options) and checks that the loader and `-test` answer each one with
 * `Configuration OK` or a clean stunnel-shaped error — never an exception or a hang.
 *
 * Reproducing a failure: every case is derived from (seed, index) alone, so
 * `node scripts/fuzz-config.mjs 1 SEED INDEX` replays exactly that case.
 *
 * The in-process loop runs in a worker thread that reports each case before running
 * it: a loader stuck in a loop (or recursing forever) blocks only the worker, and the
 * main thread names the case that hung.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../../lib/config/load';
import { OPTIONS } from '../../lib/config/options';
import { ConfigError, StartupError } from '../../lib/errors';
import { testConfiguration } from '../../lib/lint';

// ---------------------------------------------------------------- seeded randomness

/** mulberry32: a small, fast PRNG whose whole state is one 32-bit number. */
export class Prng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** The PRNG of one case: a function of the run's seed and the case's index only. */
export function caseRng(seed: number, index: number): Prng {
  return new Prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

// ---------------------------------------------------------------- seeds (real files)

const REPO = resolve(__dirname, '../../..');
import { CORPUS_FILES } from './corpus';
export const CORPUS_DIR = CORPUS_FILES;

/** Every conf-examples file (include.d fragments too) and every corpus file. */
export function seedFiles(): string[] {
  const confs = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? confs(join(dir, e.name)) : e.name.endsWith('.conf') ? [join(dir, e.name)] : []));
  const corpus = (() => { try { return confs(CORPUS_DIR); } catch { return []; } })();
  return [...confs(join(REPO, 'conf-examples')), ...corpus].sort();
}

/** Paths a seed may point at so that its files exist and loading goes past the file checks. */
export interface StubFiles {
  readonly cert: string;
  readonly key: string;
  readonly CAfile: string;
  readonly dir: string;
}

/**
 * The seed with every file-naming option pointed at files that exist (the PKI) and
 * process options neutralised, so mutations reach the TLS and engine checks.
 */
export function stubbed(text: string, stub: StubFiles): string {
  const set = (names: string, value: string) => (t: string) =>
    t.replace(new RegExp(`^([ \\t]*(?:${names})[ \\t]*=).*$`, 'gim'), `$1 ${value}`);
  return [
    set('cert', stub.cert), set('key', stub.key), set('CAfile', stub.CAfile), set('CApath', stub.dir),
    set('pid', ''),
    (t: string) => t.replace(/^[ \t]*(setuid|setgid|chroot|output|include|CRLfile|CRLpath|PSKsecrets)[ \t]*=.*$/gim, ''),
  ].reduce((t, f) => f(t), text);
}

// ---------------------------------------------------------------- mutations

const HUGE_NUMBERS = [
  '9223372036854775808', '9223372036854775807', '-9223372036854775809', '18446744073709551616',
  '99999999999999999999999999999999', '1e308', '-1', '-0', '0x7fffffffffffffff', 'NaN', 'Infinity', '4294967296', '2147483648',
];
const ODD_VALUES = [
  '', ' ', 'yes', 'no', 'quiet', '0', '127.0.0.1:0', ':::0', '[::1]:0', '::', 'localhost:99999', 'a:b:c:d', ':',
  '%s%n%x', '${VAR}', '{{ x }}', '/nonexistent/x', '/dev/null', '/etc/hostname', 'é', '\u202e', 'l:TCP_NODELAY=1',
  'r:SO_KEEPALIVE=', 'a:SO_LINGER=1:', 'TLSv1.3', 'SSLv2', 'ALL:!aNULL', 'X25519:nope', '-NO_SSLv2', 'rr', 'prio',
];
const BAD_UTF8 = [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf], [0x80], [0xef, 0xbb, 0xbf]];
const MB = 1 << 20;

type Lines = Buffer[];
const toLines = (b: Buffer): Lines => {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, start)) { out.push(b.subarray(start, i)); start = i + 1; }
  out.push(b.subarray(start));
  return out;
};
const fromLines = (l: Lines): Buffer => Buffer.concat(l.flatMap((x, i) => (i === 0 ? [x] : [Buffer.from('\n'), x])));
const insertAt = (b: Buffer, at: number, piece: Buffer) => Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);

/** Replaces the value of one `name = value` line (or appends an entry when there is none). */
function withValue(b: Buffer, r: Prng, value: Buffer): Buffer {
  const lines = toLines(b);
  const entries = lines.map((l, i) => (l.includes(61) && !/^\s*[;#[]/.test(l.toString('latin1')) ? i : -1)).filter((i) => i >= 0);
  if (entries.length === 0) return Buffer.concat([b, Buffer.from(`\n${r.pick(OPTIONS).name} = `), value, Buffer.from('\n')]);
  const i = r.pick(entries);
  lines[i] = Buffer.concat([lines[i].subarray(0, lines[i].indexOf(61) + 1), Buffer.from(' '), value]);
  return fromLines(lines);
}

/** One mutation each: takes the file's bytes, returns new bytes. */
const MUTATIONS: Readonly<Record<string, (b: Buffer, r: Prng) => Buffer>> = {
  dropLine: (b, r) => { const l = toLines(b); l.splice(r.int(l.length), 1); return fromLines(l); },
  swapLines: (b, r) => {
    const l = toLines(b); const i = r.int(l.length); const j = r.int(l.length);
    [l[i], l[j]] = [l[j], l[i]]; return fromLines(l);
  },
  duplicateLine: (b, r) => { const l = toLines(b); const i = r.int(l.length); l.splice(r.int(l.length + 1), 0, l[i]); return fromLines(l); },
  flipByte: (b, r) => {
    if (b.length === 0) return r.bytes(1);
    const out = Buffer.from(b); const i = r.int(out.length);
    out[i] = r.next() < 0.5 ? out[i] ^ (1 << r.int(8)) : r.int(256); return out;
  },
  hugeValue: (b, r) => withValue(b, r, r.next() < 0.5 ? Buffer.alloc(MB, 'A') : Buffer.from('x:'.repeat(MB / 2))),
  hugeLine: (b, r) => insertAt(b, 0, Buffer.concat([Buffer.alloc(MB, r.pick(['a', '[', '=', ' '])), Buffer.from('\n')])),
  hugeNumber: (b, r) => withValue(b, r, Buffer.from(r.pick(HUGE_NUMBERS))),
  oddValue: (b, r) => withValue(b, r, Buffer.from(r.pick(ODD_VALUES))),
  randomOption: (b, r) => {
    const l = toLines(b);
    const value = r.next() < 0.3 ? r.pick(HUGE_NUMBERS) : r.pick(ODD_VALUES);
    l.splice(r.int(l.length + 1), 0, Buffer.from(`${r.pick(OPTIONS).name} = ${value}`));
    return fromLines(l);
  },
  sectionNoise: (b, r) => {
    const l = toLines(b);
    l.splice(r.int(l.length + 1), 0, Buffer.from(r.pick(['[', ']', '[]', '[a]b]', '[ x ]', '[[x]]', '[=]', `[${'s'.repeat(5000)}]`])));
    return fromLines(l);
  },
  binaryGarbage: (b, r) => insertAt(b, r.int(b.length + 1), r.bytes(1 + r.int(256))),
  nul: (b, r) => insertAt(b, r.int(b.length + 1), Buffer.alloc(1 + r.int(4))),
  invalidUtf8: (b, r) => insertAt(b, r.int(b.length + 1), Buffer.from(r.pick(BAD_UTF8))),
  truncate: (b, r) => b.subarray(0, r.int(b.length + 1)),
  lineEndings: (b, r) => Buffer.from(b.toString('latin1').replace(/\n/g, r.pick(['\r\n', '\r', '\n\n', '\n\r'])), 'latin1'),
  allGarbage: (b, r) => r.bytes(r.int(4096)),
};
export const MUTATION_NAMES = Object.keys(MUTATIONS);

export interface FuzzCase {
  readonly index: number;
  readonly seedFile: string;
  readonly stubbed: boolean;
  readonly mutations: readonly string[];
  readonly bytes: Buffer;
}

/** Case `index` of the run `seed`: a seed file (verbatim or stubbed) with 1–4 mutations. */
export function makeCase(seed: number, index: number, files: readonly string[], stub: StubFiles): FuzzCase {
  const r = caseRng(seed, index);
  const seedFile = r.pick(files);
  const isStubbed = r.next() < 0.5;
  const original = readFileSync(seedFile);
  let bytes: Buffer = isStubbed ? Buffer.from(stubbed(original.toString('latin1'), stub), 'latin1') : original;
  const mutations: string[] = [];
  for (let n = 1 + r.int(4); n > 0; n--) {
    const name = r.pick(MUTATION_NAMES);
    mutations.push(name);
    bytes = MUTATIONS[name](bytes, r);
  }
  return { index, seedFile, stubbed: isStubbed, mutations, bytes };
}

// ---------------------------------------------------------------- verdicts

/** A stack frame, a JS exception name or our own INTERNAL ERROR marker: never in user-facing output. */
const CRASH = /^\s+at |\n\s+at |\b(TypeError|RangeError|ReferenceError|SyntaxError|AssertionError)\b|INTERNAL ERROR|Maximum call stack/;

/** The outcome of one case: its exit code and what it printed; `problem` is set when it broke a rule. */
export interface Verdict {
  readonly code: number | null;
  readonly lines: readonly string[];
  readonly problem: string | null;
}

/** Checks stunnel's start-up output shape: every line `[c] text` (c one of `*!:. `) or `Configuration OK`. */
export function outputProblem(code: number | null, lines: readonly string[]): string | null {
  if (code !== 0 && code !== 1) return `exit code ${code} (want 0 or 1)`;
  const crash = lines.find((l) => CRASH.test(l));
  if (crash !== undefined) return `crash output: ${crash.slice(0, 300)}`;
  const odd = lines.find((l) => l !== 'Configuration OK' && !/^\[[*!:. ]\] \S/.test(l));
  if (odd !== undefined) return `line not in stunnel's shape: ${JSON.stringify(odd.slice(0, 200))}`;
  const last = lines[lines.length - 1];
  if (code === 0 && last !== 'Configuration OK') return `exit 0 without "Configuration OK" (last line ${JSON.stringify(last)})`;
  if (code === 1 && last !== '[!] Configuration failed' && !lines.some((l) => l.startsWith('[!] '))) {
    return 'exit 1 without any [!] error line';
  }
  return null;
}

/** Loads and `-test`s one file in this process; any exception other than ConfigError/StartupError is a problem. */
export function checkInProcess(file: string): Verdict {
  try {
    loadConfig({ file });
  } catch (err) {
    if (!(err instanceof ConfigError)) return { code: null, lines: [], problem: `loadConfig threw ${describeError(err)}` };
    const bad = err.messages.find((m) => m.trim() === '' || m.includes('\n') || CRASH.test(m));
    if (err.messages.length === 0 || bad !== undefined) {
      return { code: 1, lines: [], problem: `ConfigError message not stunnel-shaped: ${JSON.stringify((bad ?? '').slice(0, 200))}` };
    }
  }
  const lines: string[] = [];
  let code: number;
  try {
    code = testConfiguration({ file }, (more) => { for (const l of more) for (const part of l.split('\n')) lines.push(part); });
  } catch (err) {
    const kind = err instanceof ConfigError || err instanceof StartupError ? 'escaped ' : '';
    return { code: null, lines, problem: `testConfiguration ${kind}threw ${describeError(err)}` };
  }
  return { code, lines, problem: outputProblem(code, lines) };
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return `${err.name}: ${err.message.slice(0, 300)}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
}

// ---------------------------------------------------------------- runs

export interface FuzzOptions {
  readonly seed: number;
  readonly count: number;
  /** First case index (to replay one case: count 1, first = its index). */
  readonly first?: number;
  readonly workDir: string;
  readonly stub: StubFiles;
}

export interface FuzzFailure {
  readonly seed: number;
  readonly index: number;
  readonly seedFile: string;
  readonly stubbed: boolean;
  readonly mutations: readonly string[];
  readonly file: string;
  readonly problem: string;
}

export interface FuzzReport {
  readonly cases: number;
  readonly ok: number;
  readonly failed: number;
  readonly failures: readonly FuzzFailure[];
}

/** Hears about each case: before it runs, and its outcome. */
export interface CaseEvents {
  start(index: number): void;
  done(ok: boolean, failure: FuzzFailure | null): void;
}

/** Runs the cases in this thread. */
export function runCases(opts: FuzzOptions, events: CaseEvents = { start: () => undefined, done: () => undefined }): FuzzReport {
  const files = seedFiles();
  const failures: FuzzFailure[] = [];
  let ok = 0;
  const first = opts.first ?? 0;
  mkdirSync(opts.workDir, { recursive: true });
  for (let index = first; index < first + opts.count; index++) {
    events.start(index);
    const c = makeCase(opts.seed, index, files, opts.stub);
    const file = join(opts.workDir, `case-${index}.conf`);
    writeFileSync(file, c.bytes);
    const verdict = checkInProcess(file);
    if (verdict.code === 0) ok++;
    const failure = verdict.problem === null ? null
      : { seed: opts.seed, index, seedFile: c.seedFile, stubbed: c.stubbed, mutations: c.mutations, file, problem: verdict.problem };
    if (failure) failures.push(failure);
    events.done(verdict.code === 0, failure);
  }
  return { cases: opts.count, ok, failed: failures.length, failures };
}

/**
 * Runs the cases in worker threads. A case that takes longer than `hangMs` is reported
 * as a hang: its worker is terminated and a new one carries on with the next case.
 */
export async function runCasesInWorker(opts: FuzzOptions, hangMs = 10_000): Promise<FuzzReport> {
  const end = (opts.first ?? 0) + opts.count;
  const failures: FuzzFailure[] = [];
  let ok = 0;
  for (let first = opts.first ?? 0; first < end;) {
    const part = await workerRun({ ...opts, first, count: end - first }, hangMs);
    ok += part.report.ok;
    failures.push(...part.report.failures);
    if (part.hungAt === null) break;
    const c = makeCase(opts.seed, part.hungAt, seedFiles(), opts.stub);
    failures.push({ seed: opts.seed, index: part.hungAt, seedFile: c.seedFile, stubbed: c.stubbed, mutations: c.mutations,
      file: join(opts.workDir, `case-${part.hungAt}.conf`), problem: `hang: no answer within ${hangMs} ms` });
    first = part.hungAt + 1;
  }
  return { cases: opts.count, ok, failed: failures.length, failures };
}

/** One worker over a range of cases; `hungAt` is the case it was stopped on, if any. */
function workerRun(opts: FuzzOptions, hangMs: number): Promise<{ report: FuzzReport; hungAt: number | null }> {
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(__filename, { workerData: { fuzz: opts } });
    let current = opts.first ?? 0;
    let ok = 0;
    const failures: FuzzFailure[] = [];
    let timer: NodeJS.Timeout | null = null;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => { // backstop: a case that never returns is the hang we look for
        void worker.terminate();
        resolvePromise({ report: { cases: current - (opts.first ?? 0), ok, failed: failures.length, failures }, hungAt: current });
      }, hangMs);
    };
    arm();
    worker.on('message', (m: { case?: number; ok?: boolean; failure?: FuzzFailure; report?: FuzzReport }) => {
      if (m.case !== undefined) { current = m.case; arm(); }
      if (m.ok) ok++;
      if (m.failure) failures.push(m.failure);
      if (m.report) { if (timer) clearTimeout(timer); resolvePromise({ report: m.report, hungAt: null }); }
    });
    worker.on('error', (err) => { if (timer) clearTimeout(timer); reject(err); });
  });
}

/**
 * Checks one file in a worker thread: the verdict, or a `hang` problem when it takes
 * longer than `hangMs` (the loader cannot be interrupted in the thread that runs it).
 */
export function checkInWorker(file: string, hangMs: number): Promise<Verdict> {
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(__filename, { workerData: { check: file } });
    const timer = setTimeout(() => { // backstop: the case did not finish in time
      void worker.terminate();
      resolvePromise({ code: null, lines: [], problem: `hang: no answer within ${hangMs} ms` });
    }, hangMs);
    worker.once('message', (verdict: Verdict) => { clearTimeout(timer); resolvePromise(verdict); });
    worker.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

if (!isMainThread && workerData?.check) parentPort!.postMessage(checkInProcess(workerData.check as string));

if (!isMainThread && workerData?.fuzz) {
  const report = runCases(workerData.fuzz as FuzzOptions, {
    start: (index) => parentPort!.postMessage({ case: index }),
    done: (ok, failure) => parentPort!.postMessage({ ok, failure }),
  });
  parentPort!.postMessage({ report });
}

/** One line per failure, with what it takes to replay it. */
export function formatFailure(f: FuzzFailure): string {
  return `seed ${f.seed} case ${f.index} (${f.seedFile}${f.stubbed ? ', stubbed' : ''}; ${f.mutations.join('+')}) → ${f.file}: ${f.problem}`;
}
