/**
 * @module process/serve
 * A daemon's life once its configuration has loaded, the same whether one process serves
 * (process/single) or a primary with workers (process/primary): start-up in stunnel's order
 * ending with the pid file, a failed start undone, SIGHUP's reload (read again, check, switch,
 * or keep what runs), and serving until a termination signal.
 */
import { decodeConfigBytes } from '../config/lexer';
import { loadConfigText } from '../config/load';
import type { Config } from '../config/model';
import type { ActiveConnection } from '../engine/engine';
import { MetricsEndpoint, type MetricsJson } from '../metrics/endpoint';
import { errnoText } from '../errno';
import type { Log } from '../log';
import type { DaemonStatus } from './daemon';
import { StartupError } from '../errors';
import { configFailureLines, contextFailureLines } from './failures';
import type { PidFile } from './pidfile';
import { drainState } from './drain';
import { readReloadSource, serveUntilTerminated, settingsFor, startup, type LinePrinter } from './startup';

/** What serves the connections: an engine in this process, or a pool of workers. */
export interface Server {
  /** Checks a configuration as its start would (every TLS context built, keys read); throws its error lines. */
  check(config: Config): void;
  /** Serves the configuration just checked: listening, confined, its log open. */
  start(config: Config): Promise<void>;
  /** The configuration's `pid` file as this process reaches it (and with whose rights). */
  pidFile(config: Config, pid: string): PidFile;
  /** Switches from `running` to `next` (read as `bytes`), checking it first; throws its error lines, `running` kept. */
  reload(next: Config, bytes: Buffer, running: Config): Promise<void>;
  /** SIGUSR1: the log file opened again (after a rotation). */
  reopenLog(config: Config): void;
  /** SIGUSR2: the connections being served. */
  activeConnections(): readonly ActiveConnection[] | Promise<readonly ActiveConnection[]>;
  /** Stops serving: listeners closed, tunnels dropped (as on TERM). */
  stop(): Promise<void>;
  /** `TIMEOUTdrain`: listeners closed at once, tunnels given up to `seconds` to end; `stop()` meanwhile ends it. */
  drain(seconds: number): Promise<void>;
  /** The serving processes' `stunnel_*` series (`metrics`), one list per process; empty when not metered. */
  metrics(): Promise<MetricsJson[]>;
}

/** Binds the `metrics` endpoint (before the privilege drop); null when the option is not set. */
async function openMetrics(config: Config, server: Server, log: Log): Promise<MetricsEndpoint | null> {
  const address = config.global.metrics;
  if (address === null) return null;
  const endpoint = new MetricsEndpoint(address, () => server.metrics());
  try {
    const bound = await endpoint.listen();
    log.write(6, 'ui', `Metrics endpoint bound to ${bound}`);
  } catch (error) {
    throw new StartupError([`Binding metrics endpoint to ${address.text}: ${errnoText(error)}`]);
  }
  return endpoint;
}

export interface DaemonRequest {
  readonly config: Config;
  /** What SIGHUP reads again: the file name, or the descriptor number with `-fd`. */
  readonly reloadSource: string;
  readonly log: Log;
  readonly print: LinePrinter;
  readonly status: DaemonStatus | null;
}

/** Starts `server` on the request's configuration and serves until terminated; resolves with the exit code. */
export async function serveDaemon(request: DaemonRequest, server: Server): Promise<number> {
  const { log, print, status, reloadSource } = request;
  let config = request.config;
  let pidFile: PidFile | null = null;
  let metrics: MetricsEndpoint | null = null;
  const ok = await startup(log, print, async () => {
    log.openSyslog(settingsFor(config, config.global.foreground === 'yes'));
    try {
      server.check(config);
    } catch (error) {
      throw new StartupError(contextFailureLines(error));
    }
    log.write(5, 'ui', 'Configuration successful');
    metrics = await openMetrics(config, server, log);
    await server.start(config);
    if (status !== null) {
      // What daemon(3) does after the fork: cwd `/`, so a later reload resolves paths from there.
      process.chdir('/');
      log.daemonized();
    }
    const pid = config.global.pid;
    if (pid !== null) {
      pidFile = server.pidFile(config, pid);
      pidFile.create();
      log.write(7, 'ui', `Created pid file ${pid}`);
    }
  });
  if (!ok) {
    await server.stop().catch(() => undefined);
    await (metrics as MetricsEndpoint | null)?.close();
    (pidFile as PidFile | null)?.remove();
    log.close();
    status?.close();
    return 1;
  }

  const reload = async (): Promise<void> => {
    log.write(5, 'ui', `Reading configuration from file ${reloadSource}`);
    try {
      const bytes = readReloadSource(reloadSource);
      const next = loadConfigText(decodeConfigBytes(bytes), reloadSource);
      for (const notice of next.notices) log.write(notice.level, 'ui', notice.text);
      await server.reload(next, bytes, config);
      if (!sameAddress(next.global.metrics, config.global.metrics)) {
        log.write(4, 'ui', 'metrics takes effect at the next start; the endpoint keeps running as started');
      }
      config = next;
    } catch (error) {
      for (const line of configFailureLines(error)) log.write(3, 'ui', line);
      log.write(3, 'ui', 'Failed to reload the configuration file');
      metrics?.reloaded(false);
      return;
    }
    log.write(5, 'ui', 'Configuration successful');
    metrics?.reloaded(true);
  };
  const endpoint = metrics as MetricsEndpoint | null;
  // TIMEOUTdrain: health checks answer `503 draining` from the drain's first moment.
  if (endpoint !== null) drainState.once('draining', () => endpoint.setDraining(true));
  const code = await serveUntilTerminated(log, status, pidFile, {
    reload,
    reopenLog: () => server.reopenLog(config),
    activeConnections: () => server.activeConnections(),
  }, server, () => config.global.drainTimeout);
  await endpoint?.close();
  return code;
}

function sameAddress(a: Config['global']['metrics'], b: Config['global']['metrics']): boolean {
  return a?.host === b?.host && a?.port === b?.port;
}
