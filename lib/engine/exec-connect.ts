/**
 * @module engine/exec-connect
 * An exec+connect service (`exec` and `connect`, no `accept`): the program's stdin/stdout
 * is the client side of one tunnel, started when the engine starts. With `retry = yes`
 * the program and its connection are started again a second after they end; each run
 * logs with the service's id and a run number (`0_0`, `0_1`, …), as stunnel does.
 */
import type { Duplex } from 'node:stream';
import type { LogLevel } from '../config/model';
import type { LogWriter } from '../log';
import { startExec } from './exec';
import type { RuntimeService } from './service';
import type { Tunnel } from './tunnel';

/** Pause between two runs of a `retry = yes` service. */
const RETRY_DELAY_MS = 1000;

export class ExecConnectLoop {
  #run = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly service: RuntimeService,
    readonly baseId: string,
    readonly log: LogWriter,
    readonly open: (id: string, local: Duplex) => Tunnel,
  ) {}

  run(): void {
    if (this.#stopped) return;
    const id = `${this.baseId}_${this.#run++}`;
    const level = this.service.config.debugLevel;
    const speaker = {
      wants: (l: LogLevel) => l <= level,
      say: (l: LogLevel, text: string) => { if (l <= level) this.log.write(l, id, text); },
    };
    const local = startExec(this.service.config, { host: '', port: 0 }, speaker);
    const tunnel = this.open(id, local);
    tunnel.onFinished = () => {
      if (this.#stopped || !this.service.config.retry) return;
      speaker.say(6, 'Retrying an exec+connect section');
      this.#timer = setTimeout(() => this.run(), RETRY_DELAY_MS);
    };
    tunnel.start();
  }

  /** No further runs; the running tunnel is dropped by the engine with the others. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
