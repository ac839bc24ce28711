/**
 * @module process/privileges
 * `chroot = DIR` (through the native addon: Node has no chroot) and the privilege drop,
 * in stunnel's order: chroot → setgroups([gid]) → setgid → setuid. Each failure is a
 * StartupError in stunnel's `call: text (errno)` shape.
 */
import type { GlobalConfig } from '../config/model';
import { errnoMessage, errnoText } from '../errno';
import { StartupError } from '../errors';
import { requireNative } from './native';

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
  dropPrivileges({ uid: global.setuid, gid: global.setgid });
}
