/**
 * @module process/drain
 * The process's draining state (`TIMEOUTdrain`): set once, when the first TERM/INT starts
 * a drain, never cleared (the process exits at its end). Anything that reports health
 * (a /healthz endpoint answering `503 draining`) reads `drainState.draining` or listens
 * for its 'draining' event, emitted once with the drain's deadline in seconds.
 */
import { EventEmitter } from 'node:events';

export class DrainState extends EventEmitter {
  #draining = false;

  get draining(): boolean {
    return this.#draining;
  }

  /** Marks the process draining (once); emits 'draining' with `seconds`. */
  start(seconds: number): void {
    if (this.#draining) return;
    this.#draining = true;
    this.emit('draining', seconds);
  }
}

/** This process's one draining state. */
export const drainState = new DrainState();
