/**
 * @module native
 * Loads the small N-API addon (native/stunnel_ts.c, built by `npm install` into
 * build/Release/stunnel_ts.node) for what Node has no API for: chroot(2), raw
 * setsockopt/getsockopt, AF_UNIX datagrams for syslog, a Unix socket file's owner changed
 * through a descriptor, and the fence that retires a TCP listener without a reset (engine/fence).
 * Everything else runs without it.
 */
import { join } from 'node:path';

/** The addon's functions: failures come back as a negative errno, never as exceptions. */
export interface NativeAddon {
  chroot(dir: string): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer): number;
  getsockopt(fd: number, level: number, name: number, size: number): Buffer | number;
  dgramConnect(path: string): number;
  dgramReconnect(fd: number, path: string): number;
  dgramBind(path: string): number;
  dgramSend(fd: number, data: Buffer): number;
  dgramReceive(fd: number, timeoutMs: number): Buffer | null | number;
  close(fd: number): number;
  /** The owner of the socket file at `path` (no symlink followed, not a hard link): 0 or -errno (-ENOTSOCK). */
  chownSocket(path: string, uid: number, gid: number): number;
  /** A socket filter on the listening TCP socket `fd` dropping new connection attempts (SYN without ACK): 0 or -errno. */
  fenceListener(fd: number): number;
  /** Connections completed on the listening TCP socket `fd` and not accepted yet, or -errno (-EINVAL: not listening). */
  acceptQueue(fd: number): number;
  readonly constants: Readonly<Record<string, number>>;
}

/** Where `npm install` leaves the addon, relative to this file in dist/lib/ (the compiled tree). */
export const ADDON_PATH = join(__dirname, '..', '..', 'build', 'Release', 'stunnel_ts.node');

let loaded: NativeAddon | null | undefined;

/** The addon, or null when it was not built. Loaded once (call it before any chroot). */
export function nativeAddon(): NativeAddon | null {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(ADDON_PATH) as NativeAddon;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/** The addon for an option that cannot work without it; the error names the option. */
export function requireNative(option: string): NativeAddon {
  const addon = nativeAddon();
  if (addon === null) {
    throw new Error(`${option}: needs the native addon (${ADDON_PATH}), which is not built; ` +
      'run `npm install` with a C compiler and Node headers available');
  }
  return addon;
}
