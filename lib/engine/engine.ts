/**
 * @module engine/engine
 * CONTRACT between the tunnel engine and the process layer (lifecycle, signals).
 * Stub until the engine is implemented.
 */
import { EventEmitter } from 'node:events';
import type { Config, ServiceConfig } from '../config/model';
import type { LogWriter } from '../log';
import type { Duplex } from 'node:stream';

export interface ActiveConnection {
  readonly service: string;
  readonly id: string;
  readonly sentToTls: number;
  readonly sentToSocket: number;
}

/** A configuration whose TLS contexts are built (keys read, as root), ready to bind. */
export interface Prepared {
  readonly config: Config;
}

export class Engine extends EventEmitter {
  constructor(readonly log: LogWriter) {
    super();
  }
  /** Builds every service's secure context; throws StartupError (lib/errors) with stunnel's text. */
  prepare(_config: Config): Prepared {
    throw new Error('not implemented');
  }
  /** Binds every accept address; logs `Service [x] (FD=n) bound to A:P`; rejects if a service binds none. */
  async start(_prepared: Prepared): Promise<void> {
    throw new Error('not implemented');
  }
  /** Swaps to a new configuration: unchanged listeners stay open, new ones open before removed ones close, live tunnels keep old settings. */
  async reload(_prepared: Prepared): Promise<void> {
    throw new Error('not implemented');
  }
  /** Serves one connection that is already open (inetd mode on stdin/stdout, `-fd`). Resolves when it ends. */
  async serveOne(_service: ServiceConfig, _client: Duplex): Promise<void> {
    throw new Error('not implemented');
  }
  activeConnections(): ActiveConnection[] {
    return [];
  }
  /** Stops accepting and drops every tunnel (as stunnel on TERM). */
  async close(): Promise<void> {}
}
