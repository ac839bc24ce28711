/**
 * @module process/single
 * One process serves every listener (the default, `workers = 1`): the engine builds the
 * TLS contexts as root, binds, then the process confines itself and opens its log. A reload
 * builds the new contexts before anything changes, so a bad key keeps the running configuration.
 */
import type { Config } from '../config/model';
import { Engine, type Prepared } from '../engine/engine';
import type { Log } from '../log';
import type { MetricsJson } from '../metrics/endpoint';
import { PromMeter } from '../metrics/meter';
import type { PassphraseBook } from '../tls/passphrase';
import { PidFile } from './pidfile';
import { confine } from './privileges';
import type { Server } from './serve';
import { settingsFor } from './startup';

export class SingleProcess implements Server {
  readonly #log: Log;
  readonly #engine: Engine;
  /** The stderr choice of the start: `foreground` is not re-applied on reload. */
  readonly #stderr: boolean;
  #checked: Prepared | null = null;
  /** Counts connections when `metrics` is set at the start. */
  readonly #meter: PromMeter | null;

  constructor(log: Log, initial: Config, keys: PassphraseBook) {
    this.#log = log;
    this.#engine = new Engine(log, keys);
    this.#stderr = initial.global.foreground === 'yes';
    // The endpoint's registry has the process series: this one counts connections only.
    this.#meter = initial.global.metrics === null ? null : new PromMeter({ processMetrics: false });
    this.#engine.meter = this.#meter;
  }

  check(config: Config): void {
    this.#checked = this.#engine.prepare(config);
  }

  async start(config: Config): Promise<void> {
    await this.#engine.start(this.#takeChecked());
    confine(config.global);
    this.#log.open(settingsFor(config, this.#stderr));
  }

  /** Written after the privilege drop: already with the dropped user's rights. */
  pidFile(_config: Config, pid: string): PidFile {
    return new PidFile(pid);
  }

  async reload(next: Config): Promise<void> {
    this.check(next);
    const prepared = this.#takeChecked();
    this.#log.reconfigure(settingsFor(next, this.#stderr));
    await this.#engine.reload(prepared);
  }

  reopenLog(): void {
    this.#log.reopen();
  }

  activeConnections() {
    return this.#engine.activeConnections();
  }

  stop(): Promise<void> {
    return this.#engine.close();
  }

  async metrics(): Promise<MetricsJson[]> {
    return this.#meter ? [await this.#meter.registry.getMetricsAsJSON()] : [];
  }

  drain(seconds: number): Promise<void> {
    return this.#engine.drain(seconds);
  }

  #takeChecked(): Prepared {
    const prepared = this.#checked;
    if (prepared === null) throw new Error('SingleProcess: start or reload without a checked configuration');
    this.#checked = null;
    return prepared;
  }
}
