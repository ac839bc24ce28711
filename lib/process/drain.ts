/**
 * @module process/drain
 * The process's draining state (`TIMEOUTdrain`): set once, when the first TERM/INT starts
 * a drain (process/serve, which also tells the metrics endpoint, whose /healthz then answers
 * `503 draining`), never cleared (the process exits at its end). Anything else that reports
 * health reads `drainState.draining`.
 */
export class DrainState {
  #draining = false;

  get draining(): boolean {
    return this.#draining;
  }

  /** Marks the process draining (once). */
  start(): void {
    this.#draining = true;
  }
}

/** This process's one draining state. */
export const drainState = new DrainState();
