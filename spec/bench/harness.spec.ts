/**
 * @module spec/bench/harness
 * The benchmark harness's pure pieces (bench/lib/*.mjs): /proc parsing, option parsing, tool
 * output parsing, ratios and the table. Runs nothing heavy: no proxy, no load.
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// The harness is plain ESM (.mjs); this spec compiles to CommonJS, where TypeScript would turn
// `import()` into `require()`. A Function-built import() stays a real dynamic import.
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- see above: a real dynamic import()
const importEsm = new Function('url', 'return import(url)') as (url: string) => Promise<any>;
const load = (name: string) => importEsm(pathToFileURL(resolve(__dirname, '../../../bench/lib', name)).href);

let procfs: any;
let report: any;
let options: any;
let wrk: any;
let stime: any;
let profile: any;
let figures: any;
let tools: any;
let proxies: any;

before(async () => {
  [procfs, report, options, wrk, stime, profile, figures, tools, proxies] = await Promise.all(
    ['procfs', 'report', 'options', 'wrk', 'stime', 'profile', 'figures', 'tools', 'proxies'].map((n) => load(`${n}.mjs`)),
  );
});

describe('procfs', () => {
  test('parseStat counts fields from the last parenthesis, so a command name with spaces and ")" parses', () => {
    const line = '4242 (node (worker) 1) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 3 2 20 0 11 0 1000 1234567 890 18446744073709551615';
    const stat = procfs.parseStat(line);
    assert.deepEqual(
      { pid: stat.pid, comm: stat.comm, state: stat.state, ppid: stat.ppid, utime: stat.utime, stime: stat.stime, cutime: stat.cutime, cstime: stat.cstime },
      { pid: 4242, comm: 'node (worker) 1', state: 'S', ppid: 17, utime: 250, stime: 75, cutime: 3, cstime: 2 },
    );
  });

  test('parseRssBytes reads VmRSS in kB and gives 0 for a zombie without one', () => {
    assert.equal(procfs.parseRssBytes('Name:\tnode\nVmPeak:\t  900 kB\nVmRSS:\t   1536 kB\nThreads:\t7\n'), 1536 * 1024);
    assert.equal(procfs.parseRssBytes('Name:\tnode\nState:\tZ (zombie)\n'), 0);
  });

  test('descendants walks the whole tree below a pid and nothing beside it', () => {
    const parentOf = new Map([[10, 1], [11, 10], [12, 10], [13, 11], [20, 1]]);
    assert.deepEqual(procfs.descendants(10, parentOf).sort(), [10, 11, 12, 13]);
  });

  test('treeCpuTimes and treeRssBytes read this very process from /proc', () => {
    const times = procfs.treeCpuTimes(process.pid);
    assert.ok(times.user + times.system > 0, `cpu ${JSON.stringify(times)}`);
    const rss = procfs.treeRssBytes(process.pid);
    assert.ok(rss > 10 * 1024 * 1024 && rss < process.memoryUsage().rss * 2, `rss ${rss}`);
  });
});

describe('report', () => {
  test('ratio is value over stunnel\'s, null when either is missing or zero', () => {
    assert.equal(report.ratio(1.4, 2), 0.7);
    assert.equal(report.ratio(null, 2), null);
    assert.equal(report.ratio(1, 0), null);
  });

  test('formatNumber keeps two decimals for small values and drops them for large ones', () => {
    assert.deepEqual([0.123, 12.34, 123.4, 4321.6, null].map((v) => report.formatNumber(v)), ['0.12', '12.3', '123', '4322', '–']);
  });

  test('meetsTarget judges ratio, ceiling and floor targets', () => {
    assert.equal(report.meetsTarget({ maxRatio: 0.7 }, 1.9, 2.9), true);
    assert.equal(report.meetsTarget({ maxRatio: 0.7 }, 2.1, 2.9), false);
    assert.equal(report.meetsTarget({ max: 30 }, 31, null), false);
    assert.equal(report.meetsTarget({ min: 1.8 }, 1.85, null), true);
    assert.equal(report.meetsTarget({ maxRatio: 0.7 }, 1, null), null);
  });

  test('formatTable lines up values, ratios to stunnel, verdicts and notes', () => {
    const rows = [
      { label: 'bulk CPU', unit: 's/GB', values: { 'stunnel-ts': 1.5, stunnel: 3, 'node-pipe': 2.7 }, target: { maxRatio: 0.7 }, targetFor: 'stunnel-ts' },
      { label: 'refused', unit: '', digits: 0, ratio: false, values: { 'stunnel-ts': 0, stunnel: 2, 'node-pipe': null }, notes: { 'node-pipe': 'failed' }, target: { max: 0 }, targetFor: 'stunnel-ts' },
    ];
    assert.equal(
      report.formatTable(rows, ['stunnel-ts', 'stunnel', 'node-pipe']),
      [
        'figure           stunnel-ts      stunnel  node-pipe     target',
        '---------------  --------------  -------  ------------  -------------------------',
        'bulk CPU [s/GB]  1.50 (0.50×) ✓  3.00     2.70 (0.90×)  stunnel-ts ≤ 0.7× stunnel',
        'refused          0 ✓             2        (failed)      stunnel-ts ≤ 0',
      ].join('\n'),
    );
  });

  test('withRatios adds each proxy\'s ratio and stunnel-ts\'s verdict to the JSON rows', () => {
    const [row] = report.withRatios([{ values: { 'stunnel-ts': 1, stunnel: 4 }, target: { maxRatio: 0.4 }, targetFor: 'stunnel-ts' }], ['stunnel-ts', 'stunnel']);
    assert.deepEqual(row.ratios, { 'stunnel-ts': 0.25, stunnel: 1 });
    assert.equal(row.verdict, true);
  });
});

describe('options', () => {
  test('--quick, --only and --proxies, with flags winning over BENCH_* variables', () => {
    const o = options.parseOptions(['--quick', '--only', 'bulk,idle', '--proxies=stunnel,node-pipe'], { BENCH_ONLY: 'scale' });
    assert.deepEqual([o.quick, o.workloads, o.proxies, o.bulkSeconds, o.idleTunnels], [true, ['bulk', 'idle'], ['stunnel', 'node-pipe'], 3, 500]);
  });

  test('the default run measures every workload for 15 s of bulk and 9,500 tunnels', () => {
    const o = options.parseOptions([], {});
    assert.deepEqual([o.workloads, o.proxies, o.bulkSeconds, o.scaleTunnels], [['bulk', 'full', 'resumed', 'idle', 'scale', 'cores'], null, 15, 9500]);
  });

  test('an unknown workload or flag is refused with the known names', () => {
    assert.throws(() => options.parseOptions(['--only', 'bulk,fast'], {}), { message: 'unknown workload "fast" (known: bulk, full, resumed, idle, scale, cores)' });
    assert.throws(() => options.parseOptions(['--bulk-seconds', '-1'], {}), { message: '--bulk-seconds needs a positive number, got "-1"' });
    assert.throws(() => options.parseOptions(['--fast'], {}), /^Error: unknown option "--fast"/);
  });
});

describe('tool output', () => {
  test('parseWrkOutput reads the Lua summary line and converts microseconds', () => {
    const text = 'Running 1s test @ https://127.0.0.1:1/x\n{"type":"wrk","bytes":1048576000,"requests":100,"durationUs":2500000,"connectErrors":0,"readErrors":1,"writeErrors":0,"statusErrors":0,"timeouts":0}\n';
    const summary = wrk.parseWrkOutput(text);
    assert.deepEqual([summary.bytes, summary.requests, summary.seconds, summary.readErrors], [1048576000, 100, 2.5, 1]);
    assert.throws(() => wrk.parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused\n'), /wrk printed no summary:\nunable to connect/);
  });

  test('parseSTimeOutput takes the connection count of the "real seconds" line', () => {
    const text = '*****\n\n971 connections in 0.55s; 1765.45 connections/user sec, bytes read 1236083\n971 connections in 4 real seconds, 1273 bytes read per connection\n';
    assert.equal(stime.parseSTimeOutput(text), 971);
    assert.equal(stime.parseSTimeOutput('Can\'t connect\n'), null);
  });

  test('summarizeProfile ranks functions by self samples, merging nodes of one function', () => {
    const cpuprofile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
        { id: 2, callFrame: { functionName: 'writeBuffer', url: '', lineNumber: -1 } },
        { id: 3, callFrame: { functionName: 'onData', url: 'file:///x/relay.js', lineNumber: 17 } },
        { id: 4, callFrame: { functionName: 'writeBuffer', url: '', lineNumber: -1 } },
      ],
      samples: [2, 2, 3, 4, 2, 1, 4, 3],
    };
    assert.deepEqual(profile.summarizeProfile(cpuprofile, 2), [
      { name: 'writeBuffer', percent: 62.5 },
      { name: 'onData relay.js:18', percent: 25 },
    ]);
  });
});

describe('figures, tools and configs', () => {
  test('buildFigures reads values, keeps notes for skipped proxies and fills N with the tunnel count', () => {
    const measurements = {
      scale: { stunnel: { failed: 3, rssWith: 2 * 1048576 }, 'stunnel-ts': { error: 'boom' } },
      'cores-1': { stunnel: { megabytesPerSecond: 100 } },
      'cores-2': { stunnel: { skipped: 'no workers option' } },
    };
    const rows = figures.buildFigures(measurements, ['stunnel-ts', 'stunnel'], { scaleTunnels: 9500 });
    const refused = rows.find((r: any) => r.id === 'scale.refused');
    assert.deepEqual([refused.unit, refused.values, refused.notes], ['of 9500', { 'stunnel-ts': null, stunnel: 3 }, { 'stunnel-ts': 'failed' }]);
    const scaling = rows.find((r: any) => r.id === 'cores.bulkScale');
    assert.deepEqual(scaling.notes, { 'stunnel-ts': 'not run', stunnel: 'no workers option' });
    assert.equal(rows.some((r: any) => r.id.startsWith('bulk.')), false);
  });

  test('missingTools names each missing command and the Debian package to install', () => {
    const message = tools.missingTools((command: string) => (command === 'wrk' || command === 'prlimit' ? null : `/usr/bin/${command}`));
    assert.equal(message, [
      'bench: missing tools:',
      '  wrk (Debian package wrk) — HTTP load generator for the bulk and resumed workloads',
      '  prlimit (Debian package util-linux) — sets the proxy\'s descriptor limit',
      'Install them with: apt-get install wrk util-linux',
    ].join('\n'));
    assert.equal(tools.missingTools(() => '/usr/bin/x'), null);
  });

  test('stunnelConf gives both stunnels the same service, stunnel-ts also its workers', () => {
    const text = proxies.stunnelConf({ acceptPort: 1, backendPort: 2, certFile: '/c.pem', keyFile: '/k.pem', workers: 2 });
    assert.match(text, /^foreground = yes\npid =\nsyslog = no\nworkers = 2\n\n\[bench\]\naccept = 127\.0\.0\.1:1\nconnect = 127\.0\.0\.1:2\ncert = \/c\.pem\nkey = \/k\.pem\n$/m);
    assert.doesNotMatch(proxies.stunnelConf({ acceptPort: 1, backendPort: 2, certFile: 'c', keyFile: 'k', workers: null }), /workers/);
  });
});
