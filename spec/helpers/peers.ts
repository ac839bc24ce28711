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
 */
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
} as const;

export type PeerName = keyof typeof PEERS;

/** Where a program is found on PATH (or in the sbin directories Debian puts daemons in), or null. */
export function findProgram(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
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

function recordSkip(missing: readonly PeerName[]): void {
  const log = process.env.STUNNEL_TS_SKIP_LOG;
  if (log) appendFileSync(log, `${[...new Set(missing.map((name) => PEERS[name]))].join(' ')}\n`);
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
