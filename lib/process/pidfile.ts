/**
 * @module process/pidfile
 * `pid = FILE`: written after the privilege drop (so the dropped user can remove it),
 * stale file unlinked first, created with O_EXCL|O_NOFOLLOW and mode 0644, content `PID\n`;
 * removed at exit, and only if the name still leads to the file written (same device and
 * inode: a directory swapped for a symlink meanwhile leads elsewhere). Paths are resolved
 * inside the chroot, if any. A process that keeps root (the workers' primary) is given the
 * dropped user's identity: both steps run with that user's rights (process/privileges).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { errnoText } from '../errno';
import { StartupError } from '../errors';
import { withIdentity, type Identity } from './privileges';

const NOBODY_IN_PARTICULAR: Identity = { uid: null, gid: null };

export class PidFile {
  /** Device and inode of the file written; null until then and after its removal. */
  #written: { readonly dev: number; readonly ino: number } | null = null;
  constructor(readonly path: string, readonly pid: number = process.pid, readonly identity: Identity = NOBODY_IN_PARTICULAR) {}

  /** Creates the file; throws StartupError `Cannot create pid file PATH` + `create: text (errno)`, stunnel's two lines. */
  create(): void {
    withIdentity(this.identity, () => this.#create());
  }

  #create(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // No stale file: the usual case.
    }
    let fd: number;
    try {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_TRUNC;
      fd = openSync(this.path, flags, 0o644);
    } catch (error) {
      throw new StartupError([`Cannot create pid file ${this.path}`, `create: ${errnoText(error)}`]);
    }
    try {
      writeSync(fd, `${this.pid}\n`);
      const { dev, ino } = fstatSync(fd);
      this.#written = { dev, ino };
    } finally {
      closeSync(fd);
    }
  }

  /** Removes the file if we wrote it and the name still leads to it; idempotent, never throws (exit paths call it). */
  remove(): void {
    const written = this.#written;
    if (written === null) return;
    this.#written = null;
    try {
      withIdentity(this.identity, () => {
        const now = lstatSync(this.path);
        if (now.dev === written.dev && now.ino === written.ino) unlinkSync(this.path);
      });
    } catch {
      // Already gone (removed by hand, or unreachable after a chroot): nothing to do.
    }
  }
}
