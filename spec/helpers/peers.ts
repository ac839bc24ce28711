/**
 * @module spec/helpers/peers
 * The outside programs the suite talks to, asked for through one door.
 *
 *   missing, peers optional (a developer's machine)  → the test is skipped, naming the program
 *                                                       and the Debian package that brings it
 *   missing, STUNNEL_TS_REQUIRE_PEERS=1 (CI)         → the test runs and fails at once, saying so
 *
 * Every skip is also appended to the file named by STUNNEL_TS_SKIP_LOG (set by spec/run.mjs), so
 * that the run can end with one line: how many tests were skipped and the apt-get line that runs them.
 *
 * Programs are looked up on PATH, then in /usr/sbin and /sbin (where Debian puts daemons);
 * STUNNEL_TS_PEERS_PATH_ONLY=1 looks on PATH only, so that a PATH of a few symlinks simulates a
 * fresh machine without removing any package. Spawn a peer by `peerPath(name)`, never by a
 * hard-coded /usr/bin path, so that what is skipped and what is run agree.
 */
import './processes';
import { accessSync, appendFileSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Each program the suite may need, with the Debian package that installs it. */
export const PEERS = {
  stunnel4: 'stunnel4',
  socat: 'socat',
  curl: 'curl',
  openssl: 'openssl',
  'fail2ban-regex': 'fail2ban',
  logrotate: 'logrotate',
  tinyproxy: 'tinyproxy',
  ip: 'iproute2',
  unshare: 'util-linux',
  mount: 'mount',
  sslscan: 'sslscan',
  haproxy: 'haproxy',
  nginx: 'nginx-light',
  promtool: 'prometheus',
  python3: 'python3',
  'systemd-analyze': 'systemd',
  man: 'man-db',
  jq: 'jq',
  script: 'bsdutils',
} as const;

export type PeerName = keyof typeof PEERS;

/** Where a program is found on PATH (or in the sbin directories Debian puts daemons in), or null. */
export function findProgram(name: string): string | null {
  const pathOnly = process.env.STUNNEL_TS_PEERS_PATH_ONLY === '1';
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...(pathOnly ? [] : ['/usr/sbin', '/sbin'])];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch { /* not here */ }
  }
  return null;
}

/** Where a peer is; throws (naming its package) when it is missing: call after `skipWithout`/`havePeers`. */
export function peerPath(name: PeerName): string {
  const path = findProgram(name);
  if (path === null) assertPeers(name);
  return path!;
}

/** True when missing peers must fail the test instead of skipping it (CI). */
export function peersRequired(): boolean {
  return process.env.STUNNEL_TS_REQUIRE_PEERS === '1';
}

/** The names among `names` that are not installed. */
export function missingPeers(...names: PeerName[]): PeerName[] {
  return names.filter((name) => findProgram(name) === null);
}

function reason(missing: readonly PeerName[]): string {
  const packages = [...new Set(missing.map((name) => PEERS[name]))];
  return `needs ${missing.join(', ')} (apt-get install ${packages.join(' ')})`;
}

/** One line per skip: the packages, a tab, and where the skip was asked for (the spec's file:line). */
function recordSkip(missing: readonly PeerName[]): void {
  const log = process.env.STUNNEL_TS_SKIP_LOG;
  if (!log) return;
  const caller = (new Error().stack ?? '').split('\n').slice(1).find((l) => !/\/helpers\/peers\.[jt]s:/.test(l));
  const where = caller?.match(/\((.*)\)$|at (.*)$/)?.slice(1).find(Boolean) ?? '?';
  appendFileSync(log, `${[...new Set(missing.map((name) => PEERS[name]))].join(' ')}\t${where}\n`);
}

/**
 * For a test's or suite's `skip` option: the reason when a peer is missing and peers are optional,
 * else false (then call `assertPeers` in the test body or a `before` hook, so CI fails clearly).
 */
export function skipWithout(...names: PeerName[]): string | false {
  const missing = missingPeers(...names);
  if (missing.length === 0 || peersRequired()) return false;
  recordSkip(missing);
  return reason(missing);
}

/** Throws, naming the programs and packages, when a peer is missing (the CI side of `skipWithout`). */
export function assertPeers(...names: PeerName[]): void {
  const missing = missingPeers(...names);
  if (missing.length > 0) throw new Error(`STUNNEL_TS_REQUIRE_PEERS=1 and this test ${reason(missing)}`);
}

/**
 * Inside a running test: skips it (returns false) when a peer is missing and peers are optional,
 * throws when they are required, returns true when every peer is there.
 */
export function havePeers(t: { skip(message?: string): void }, ...names: PeerName[]): boolean {
  const missing = missingPeers(...names);
  if (missing.length === 0) return true;
  if (peersRequired()) assertPeers(...names);
  recordSkip(missing);
  t.skip(reason(missing));
  return false;
}
