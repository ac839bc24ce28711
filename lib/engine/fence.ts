/**
 * @module engine/fence
 * Retiring a TCP listener without resetting a connection the kernel already completed
 * (`TIMEOUTdrain`). Closing a listening socket resets every connection in its accept queue:
 * their handshakes are done, so an L4 balancer in front has connected and can no longer send
 * the client elsewhere. So the listener is fenced first, and closed once its queue is empty:
 *
 *   raise    a socket filter on the listening socket drops new SYNs (the addon's fenceListener):
 *            a new client is neither queued nor refused, it sends its SYN again after its
 *            retransmission timeout (1 s)
 *   empty    the process keeps accepting what is queued; a handshake under way at the fence
 *            (SYN-RECV) completes within a round trip, is queued and accepted too
 *   emptied  once the queue is empty (the addon's acceptQueue) and GRACE_MS have passed since
 *            the fence, or at BACKSTOP_MS; the caller closes the listener, and the resent SYNs
 *            meet a closed port: refused (RST), and the balancer redispatches
 *
 * The filter belongs to the socket, not to a descriptor: with `workers = N` one fence holds for
 * the socket every worker (and the primary) has, and each worker keeps accepting until the queue
 * they share is empty. Without the addon, or on a Unix socket, there is no fence (raise returns
 * null): the listener closes at once, as before.
 */
import { nativeAddon, type NativeAddon } from '../native';

/**
 * How long after the fence the listener stays open at least: the handshakes under way then need
 * one round trip (the client's ACK) to land in the queue. 100 ms covers a balancer up to 100 ms
 * away (a LAN's is well under 1 ms) and is still far below the 1 s after which a fenced client
 * sends its SYN again, so that SYN finds the port closed and is refused at once.
 */
export const GRACE_MS = 100;
/** How often the queue is looked at after the grace. */
const POLL_MS = 10;
/**
 * The longest a listener stays fenced: a process too busy to empty its queue by then is closed
 * anyway (what is still queued is reset, as without the fence). Fenced clients meanwhile see only
 * a longer delay (their SYN resent at 1 s, 3 s, …), never an error.
 */
export const BACKSTOP_MS = 2000;

export class Fence {
  /** Resolves when the listener may close: its queue empty after the grace, the backstop, or end(). */
  readonly emptied: Promise<void>;
  readonly #fd: number;
  readonly #addon: NativeAddon;
  readonly #raisedAt = Date.now();
  #timer: NodeJS.Timeout | null = null;
  #resolve: () => void = () => undefined;

  private constructor(fd: number, addon: NativeAddon) {
    this.#fd = fd;
    this.#addon = addon;
    this.emptied = new Promise((resolve) => (this.#resolve = resolve));
    this.#timer = setTimeout(this.#check, GRACE_MS);
  }

  /** Fences the listening TCP socket `fd`; null when it cannot be (no addon, no descriptor, not TCP). */
  static raise(fd: number | null): Fence | null {
    const addon = nativeAddon();
    if (addon === null || fd === null || addon.acceptQueue(fd) < 0 || addon.fenceListener(fd) !== 0) return null;
    return new Fence(fd, addon);
  }

  /** Stops waiting: `emptied` resolves now (a second signal closes at once). */
  end(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#resolve();
  }

  #check = (): void => {
    // Below 0: the socket cannot say (closed meanwhile); nothing to wait for.
    const queued = this.#addon.acceptQueue(this.#fd);
    if (queued <= 0 || Date.now() - this.#raisedAt >= BACKSTOP_MS) this.end();
    else this.#timer = setTimeout(this.#check, POLL_MS);
  };
}
