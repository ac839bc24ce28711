/**
 * @module engine/listener
 * One listening socket of one service (TCP or Unix). The service it serves can be
 * swapped on reload while the socket stays open, so no connection is refused meanwhile.
 * It closes at once (`close`), or retires (`retire`, `TIMEOUTdrain`): fenced, its accept
 * queue emptied, then closed (engine/fence), so no queued connection is reset.
 */
import cluster from 'node:cluster';
import { constants as osConstants } from 'node:os';
import { lchownSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Address, Config } from '../config/model';
import { applySocketOptions, listenOptions } from '../net/sockopts';
import { errnoMessage } from '../errno';
import { nativeAddon } from '../native';
import { checkServerHandle, descriptorOf } from '../node-internals';
import { boundText, listenHost, listenKey } from './address';
import { Fence } from './fence';
import type { RuntimeService } from './service';

/**
 * A Unix socket file left by an earlier run makes bind fail (EADDRINUSE): it is removed first.
 * Not by a worker of `workers = N`, though: the primary binds once for all of them, and a
 * worker removing the path would unlink the socket the others already serve (the primary
 * removes stale files itself, see removeStaleSocketFiles).
 */
export function removeStaleSocketFile(address: Address): void {
  if (address.kind !== 'unix') return;
  try {
    unlinkSync(address.path);
  } catch {
    // nothing stale to remove
  }
}

/** The Unix socket files `next` accepts on that `running` does not bind already, removed. */
export function removeStaleSocketFiles(next: Config, running: Config | null): void {
  const bound = new Set(running?.services.flatMap((s) => s.accept).map(listenKey) ?? []);
  for (const address of next.services.flatMap((s) => s.accept)) {
    if (!bound.has(listenKey(address))) removeStaleSocketFile(address);
  }
}

export class Listener {
  readonly server: Server;
  readonly key: string;
  service: RuntimeService;
  #fence: Fence | null = null;
  #closed: Promise<void> | null = null;

  constructor(readonly address: Address, service: RuntimeService, onConnection: (listener: Listener, socket: Socket) => void) {
    this.key = listenKey(address);
    this.service = service;
    this.server = createServer({ allowHalfOpen: true }, (socket) => onConnection(this, socket));
  }

  /**
   * Binds (IPV6_V6ONLY is a listen option: it must be set before bind); rejects with the
   * system error (EADDRINUSE, EACCES, …) or the accept-socket option the kernel refused.
   */
  listen(): Promise<void> {
    const address = this.address;
    if (!cluster.isWorker) removeStaleSocketFile(address);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      const options = address.kind === 'unix'
        ? { path: address.path, backlog: 4096 }
        : { host: listenHost(address), port: address.port, backlog: 4096, ...listenOptions(this.service.config.socketOptions) };
      this.server.listen(options, () => {
        this.server.removeListener('error', onError);
        try {
          if (address.kind === 'unix') this.#chown();
          applySocketOptions(this.server, 'a', this.service.config.socketOptions);
          checkServerHandle(this.server);
        } catch (err) {
          this.server.close();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        resolve();
      });
    });
  }

  /**
   * `setuid`/`setgid`: the socket file's owner. Root does this in a directory the service user
   * may control (Debian's /run/stunnel4 is theirs), so the path may have been swapped for a
   * symlink or a hard link since bind: only the socket file itself is changed (the addon's
   * chownSocket, through an O_PATH|O_NOFOLLOW descriptor), anything else is refused with
   * `Socket operation on non-socket`. Without the addon: lstat, then lchown (no symlink is
   * followed; the check-then-change window remains, closed only by the kernel's
   * protected_hardlinks).
   */
  #chown(): void {
    const { acceptUid, acceptGid } = this.service.config;
    if (this.address.kind !== 'unix' || (acceptUid === null && acceptGid === null)) return;
    const path = this.address.path;
    const addon = nativeAddon();
    if (addon !== null) {
      const rc = addon.chownSocket(path, acceptUid ?? -1, acceptGid ?? -1);
      if (rc < 0) throw new Error(errnoMessage(rc));
      return;
    }
    const stat = lstatSync(path);
    if (!stat.isSocket() || stat.nlink !== 1) throw new Error(errnoMessage(-osConstants.errno.ENOTSOCK));
    lchownSync(path, acceptUid ?? -1, acceptGid ?? -1);
  }

  /** The listening descriptor, as stunnel logs it (`FD=n`). */
  get fd(): number {
    return descriptorOf(this.server) ?? -1;
  }

  /** `127.0.0.1:43211` with the real port, or the socket path. */
  get boundAddress(): string {
    return boundText(this.server.address(), this.address);
  }

  /**
   * Stops taking connections without resetting the ones the kernel has queued: fenced, emptied,
   * closed (engine/fence); `onFenced` is told first when the fence holds. Resolves once nothing
   * more is accepted; at once when there is no fence (no addon, a Unix socket): closed then as
   * by `close()`, whose call meanwhile ends the wait.
   */
  async retire(onFenced: () => void): Promise<void> {
    if (!this.server.listening) return;
    const fence = Fence.raise(descriptorOf(this.server));
    if (fence !== null) {
      this.#fence = fence;
      onFenced();
      await fence.emptied;
      this.#fence = null;
    }
    void this.close();
  }

  /** Closes at once (a retiring listener too); resolves when the server has closed and its connections ended. */
  close(): Promise<void> {
    this.#fence?.end();
    if (this.server.listening) this.#closed = new Promise((resolve) => this.server.close(() => resolve()));
    return this.#closed ?? Promise.resolve();
  }
}
