/**
 * @module process/pidfile
 * `pid = FILE`: written after the privilege drop (so the dropped user can remove it),
 * stale file unlinked first, created with O_EXCL and mode 0644, content `PID\n`;
 * removed at exit. Paths are resolved inside the chroot, if any.
 */
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { errnoText } from '../errno';
import { StartupError } from '../errors';

export class PidFile {
  #written = false;
  constructor(readonly path: string, readonly pid: number = process.pid) {}

  /** Creates the file; throws StartupError `PATH: text (errno)` as stunnel's ioerror() prints. */
  create(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // No stale file: the usual case.
    }
    let fd: number;
    try {
      fd = openSync(this.path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_TRUNC, 0o644);
    } catch (error) {
      throw new StartupError([`${this.path}: ${errnoText(error)}`]);
    }
    try {
      writeSync(fd, `${this.pid}\n`);
    } finally {
      closeSync(fd);
    }
    this.#written = true;
  }

  /** Removes the file if we wrote it; idempotent, never throws (exit paths call it). */
  remove(): void {
    if (!this.#written) return;
    this.#written = false;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (removed by hand, or unreachable after a chroot): nothing to do.
    }
  }
}
