/**
 * @module process/notify
 * systemd's notification protocol (sd_notify(3)) for `Type=notify` units, through the
 * native addon's AF_UNIX datagram socket (no shell-out, no package): READY=1 once the
 * daemon accepts connections, RELOADING=1 (with MONOTONIC_USEC, as systemd ≥ 253 wants)
 * then READY=1 around a SIGHUP reload, STOPPING=1 when termination starts, and WATCHDOG=1
 * every half WATCHDOG_USEC when the unit sets `WatchdogSec=`. Without NOTIFY_SOCKET (any
 * other way of running) every call does nothing.
 */
import type { LogWriter } from '../log';
import { errnoMessage } from '../errno';
import { nativeAddon } from '../native';

export interface Notifier {
  ready(): void;
  reloading(): void;
  stopping(): void;
  /** Stops the watchdog timer and closes the socket. */
  close(): void;
}

const SILENT: Notifier = { ready: () => undefined, reloading: () => undefined, stopping: () => undefined, close: () => undefined };

/** CLOCK_MONOTONIC in microseconds (Node's hrtime reads that clock). */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** The watchdog period asked for this process, in microseconds, or null. */
function watchdogUsec(env: NodeJS.ProcessEnv): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== process.pid) return null;
  return usec;
}

/** A notifier for NOTIFY_SOCKET (a path, or `@name` in the abstract namespace); silent without it. */
export function systemdNotifier(log: LogWriter, env: NodeJS.ProcessEnv = process.env): Notifier {
  const path = env.NOTIFY_SOCKET;
  if (!path) return SILENT;
  const addon = nativeAddon();
  if (addon === null) {
    log.write(4, 'ui', 'NOTIFY_SOCKET is set but the native addon is not built: systemd is not notified');
    return SILENT;
  }
  const fd = addon.dgramConnect(path);
  if (fd < 0) {
    log.write(4, 'ui', `NOTIFY_SOCKET ${path}: ${errnoMessage(fd)}`);
    return SILENT;
  }
  // One line per run of failures (systemd busy, a full queue), not one per datagram.
  let failing = false;
  const send = (state: string): void => {
    const result = addon.dgramSend(fd, Buffer.from(state));
    if (result < 0 && !failing) log.write(4, 'ui', `NOTIFY_SOCKET ${path}: ${errnoMessage(result)}`);
    failing = result < 0;
  };
  let watchdog: NodeJS.Timeout | null = null;
  const period = watchdogUsec(env);
  if (period !== null) {
    watchdog = setInterval(() => send('WATCHDOG=1'), Math.max(1, Math.floor(period / 2000)));
    watchdog.unref();
  }
  let closed = false;
  return {
    ready: () => send('READY=1'),
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`),
    stopping: () => send('STOPPING=1'),
    close: () => {
      if (closed) return;
      closed = true;
      if (watchdog) clearInterval(watchdog);
      addon.close(fd);
    },
  };
}
