/**
 * @module bench/lib/options
 * Command-line flags and BENCH_* environment variables → one frozen settings object.
 * Flags win over the environment. Pure: takes argv and env, returns settings or throws.
 */

export const WORKLOADS = Object.freeze(['bulk', 'full', 'resumed', 'idle', 'scale', 'cores']);
export const PROXIES = Object.freeze(['stunnel-ts', 'stunnel', 'node-pipe', 'haproxy', 'nginx-stream']);

/** Durations and counts for a default run and for --quick. */
const PROFILES = {
  default: { bulkSeconds: 15, connSeconds: 8, idleTunnels: 2000, scaleTunnels: 9500, coresSeconds: 8 },
  quick: { bulkSeconds: 3, connSeconds: 1, idleTunnels: 500, scaleTunnels: 1500, coresSeconds: 2 },
};

export const USAGE = `usage: npm run bench -- [options]

  --quick              short run (about 2 minutes); default run about 10 minutes
  --only LIST          workloads to run, comma-separated: ${WORKLOADS.join(',')}
  --proxies LIST       proxies under test, comma-separated: ${PROXIES.join(',')}
                       (default: every one that is installed and starts)
  --bulk-seconds N     override the bulk download time      (default 15, quick 3)
  --conn-seconds N     override each connection workload    (default 8, quick 1)
  --idle-tunnels N     tunnels held for the idle figure     (default 2000, quick 500)
  --scale-tunnels N    tunnels for the scale figure         (default 9500, quick 1500)
  --cores-seconds N    each run of the cores workload       (default 8, quick 2)
  --profile            also rerun bulk and resumed connections with the Node proxies under node --cpu-prof
  --keep               keep the temp dir (configs, logs, profiles) and print its path
  --help               this text

Environment: BENCH_QUICK=1, BENCH_ONLY=…, BENCH_PROXIES=…, BENCH_PROFILE=1, BENCH_KEEP=1.`;

function list(text, allowed, what) {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item)) throw new Error(`unknown ${what} "${item}" (known: ${allowed.join(', ')})`);
  }
  return items;
}

function positive(text, flag) {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number, got "${text}"`);
  return n;
}

const NUMERIC_FLAGS = {
  '--bulk-seconds': 'bulkSeconds',
  '--conn-seconds': 'connSeconds',
  '--idle-tunnels': 'idleTunnels',
  '--scale-tunnels': 'scaleTunnels',
  '--cores-seconds': 'coresSeconds',
};

export function parseOptions(argv, env = {}) {
  const truthy = (v) => v != null && v !== '' && v !== '0' && v !== 'false';
  let quick = truthy(env.BENCH_QUICK);
  let only = env.BENCH_ONLY ? list(env.BENCH_ONLY, WORKLOADS, 'workload') : null;
  let proxies = env.BENCH_PROXIES ? list(env.BENCH_PROXIES, PROXIES, 'proxy') : null;
  let profile = truthy(env.BENCH_PROFILE);
  let keep = truthy(env.BENCH_KEEP);
  let help = false;
  const overrides = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--quick') quick = true;
    else if (flag === '--only') only = list(value(), WORKLOADS, 'workload');
    else if (flag === '--proxies') proxies = list(value(), PROXIES, 'proxy');
    else if (flag === '--profile') profile = true;
    else if (flag === '--keep') keep = true;
    else if (flag === '--help' || flag === '-h') help = true;
    else if (flag in NUMERIC_FLAGS) overrides[NUMERIC_FLAGS[flag]] = positive(value(), flag);
    else throw new Error(`unknown option "${argv[i]}"\n\n${USAGE}`);
  }
  return Object.freeze({
    quick,
    help,
    profile,
    keep,
    workloads: only ?? [...WORKLOADS],
    proxies, // null: all that are available
    ...PROFILES[quick ? 'quick' : 'default'],
    ...overrides,
  });
}
