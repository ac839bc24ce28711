/**
 * @module spec/helpers/accounts
 * System users and groups a test needs (`stunnel4` from Debian's stunnel4 package, `nogroup`,
 * `www-data`…): found in /etc/passwd and /etc/group, else created when running as root
 * (`useradd --system` / `groupadd --system`), else the reason to skip. One door, like peers.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function names(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').map((line) => line.split(':')[0]).filter(Boolean);
  } catch {
    return [];
  }
}

export function userExists(name: string): boolean {
  return names('/etc/passwd').includes(name);
}

export function groupExists(name: string): boolean {
  return names('/etc/group').includes(name);
}

function create(command: string, args: string[]): string | false {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status === 0) return false;
  return `${command} ${args.join(' ')} failed: ${(r.error?.message ?? r.stderr).trim()}`;
}

/**
 * Makes sure each system user (with the group of the same name, as Debian's packages create
 * them) exists. Returns false when they all do, else the reason to skip (for a `skip` option).
 */
export function ensureUsers(...users: string[]): string | false {
  for (const user of users) {
    if (userExists(user)) continue;
    if (process.getuid?.() !== 0) return `needs the system user ${user} (not root: cannot create it)`;
    const failed = groupExists(user)
      ? create('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--gid', user, user])
      : create('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group', user]);
    if (failed) return `needs the system user ${user} (${failed})`;
  }
  return false;
}

/** Makes sure each system group exists; false, or the reason to skip. */
export function ensureGroups(...groups: string[]): string | false {
  for (const group of groups) {
    if (groupExists(group)) continue;
    if (process.getuid?.() !== 0) return `needs the system group ${group} (not root: cannot create it)`;
    const failed = create('groupadd', ['--system', group]);
    if (failed) return `needs the system group ${group} (${failed})`;
  }
  return false;
}

/** True when a stunnel.conf text names `account` in a `setuid` or `setgid` line. */
export function namesAccount(text: string, account: string): boolean {
  return new RegExp(`^[ \\t]*set(?:uid|gid)[ \\t]*=[ \\t]*${account}[ \\t]*$`, 'mi').test(text);
}
