/**
 * @module process/privileges
 * `chroot = DIR` (through the native addon: Node has no chroot) and the privilege drop,
 * in stunnel's order: chroot → setgroups([gid]) → setgid → setuid. Each failure is a
 * StartupError in stunnel's `call: text (errno)` shape.
 *
 * A process that keeps root (the primary of `workers = N`) still touches the files the
 * dropped user owns (`output`, `pid`): it does so with that user's rights for the length of
 * the call (`withIdentity`), so a path the user controls leads nowhere the user could not
 * write already, as stunnel opens them after its setuid.
 */
import type { GlobalConfig } from '../config/model';
import { errnoMessage, errnoText } from '../errno';
import { StartupError } from '../errors';
import { requireNative } from '../native';

/** Confines the process to DIR (cwd becomes the jail's `/`). */
export function enterChroot(dir: string): void {
  let addon;
  try {
    addon = requireNative('chroot');
  } catch (error) {
    throw new StartupError([(error as Error).message]);
  }
  const rc = addon.chroot(dir);
  if (rc < 0) throw new StartupError([`chroot: ${errnoMessage(rc)}`]);
}

export interface Identity {
  readonly uid: number | null;
  readonly gid: number | null;
}

/** setgroups([gid]) + setgid(gid) when a group is set, then setuid(uid) when a user is set. */
export function dropPrivileges(identity: Identity): void {
  const step = (call: string, action: () => void) => {
    try {
      action();
    } catch (error) {
      throw new StartupError([`${call}: ${errnoText(error)}`]);
    }
  };
  if (identity.gid !== null) {
    const gid = identity.gid;
    step('setgroups', () => process.setgroups!([gid]));
    step('setgid', () => process.setgid!(gid));
  }
  if (identity.uid !== null) {
    const uid = identity.uid;
    step('setuid', () => process.setuid!(uid));
  }
}

/** Everything the configuration asks to give up once the sockets are bound: the chroot, then root. */
export function confine(global: Pick<GlobalConfig, 'chroot' | 'setuid' | 'setgid'>): void {
  if (global.chroot !== null) enterChroot(global.chroot);
  dropPrivileges(identityOf(global));
}

/**
 * Runs `action` with the effective groups, gid and uid of `identity` when this process is
 * root and a user or group is configured, then takes its own back (the saved uid stays 0, so
 * seteuid(0) is allowed). glibc applies set*id to every thread of the process: Node's
 * thread pool works with the same rights for that instant (the primary does no file work there).
 */
export function withIdentity<T>(identity: Identity, action: () => T): T {
  if (process.geteuid?.() !== 0 || (identity.uid === null && identity.gid === null)) return action();
  const groups = process.getgroups!();
  const egid = process.getegid!();
  try {
    if (identity.gid !== null) {
      process.setgroups!([identity.gid]);
      process.setegid!(identity.gid);
    }
    if (identity.uid !== null) process.seteuid!(identity.uid);
    return action();
  } finally {
    process.seteuid!(0);
    process.setegid!(egid);
    process.setgroups!(groups);
  }
}

/** The identity `setuid`/`setgid` name. */
export function identityOf(global: Pick<GlobalConfig, 'setuid' | 'setgid'>): Identity {
  return { uid: global.setuid, gid: global.setgid };
}
