/**
 * @module process/worker
 * One worker process of `workers = N` (a node:cluster worker of the primary, see
 * process/primary). It runs the single-process start-up on the configuration text the
 * primary sends (contexts built as root → listen on the shared sockets → chroot → privilege
 * drop → log opened) and then serves until told to stop. It takes no signals of its own
 * (a terminal's Ctrl-C reaches the whole process group: the primary coordinates): HUP,
 * USR1, USR2 and TERM arrive from the primary as IPC commands. The sessions it makes go up to
 * the primary, and those the other workers made come down (process/sessionshare).
 */
import cluster from 'node:cluster';
import { decodeConfigBytes } from '../config/lexer';
import { loadConfigText } from '../config/load';
import type { Config } from '../config/model';
import { Engine, type Prepared } from '../engine/engine';
import { PassphraseBook } from '../tls/passphrase';
import { setConnectionIdPrefix } from '../engine/ids';
import { Log, logSettingsFrom, type LogSettings } from '../log';
import { PromMeter } from '../metrics/meter';
import { configFailureLines } from './failures';
import { isCommand, type Command, type WorkerEvent } from './messages';
import { nativeAddon } from '../native';
import { confine } from './privileges';
import { adoptSessions, Batches, offerSessions } from './sessionshare';
import { shareTicketKeys } from './ticketkeys';

type StartCommand = Extract<Command, { cmd: 'start' }>;

/** Tells the primary; when it is gone (the channel closed), there is nobody to tell, and this worker is about to end. */
function send(event: WorkerEvent): void {
  if (process.connected) process.send?.(event, undefined, undefined, ignoreSendError);
}

function ignoreSendError(): void {
  // See send().
}

/**
 * The worker's sinks: the primary's choice of stderr, and never `log = overwrite` (the
 * primary truncated the file already; a worker truncating it would erase the others' lines).
 */
function workerLogSettings(config: Config): LogSettings {
  return { ...logSettingsFrom(config), stderr: config.global.foreground === 'yes', overwrite: false };
}

function configFrom(base64: string, source: string): Config {
  return loadConfigText(decodeConfigBytes(Buffer.from(base64, 'base64')), source);
}

/** The first command from the primary, which must be `start`. */
function startCommand(): Promise<StartCommand> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if (!isCommand(message) || message.cmd !== 'start') return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    send({ event: 'waiting' });
  });
}

/** The signals the primary forwards as commands are ignored here (Node would otherwise exit on HUP/INT/QUIT). */
function ignoreForwardedSignals(): void {
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) process.on(signal, () => undefined);
}

/** Answers the primary's `metrics` command: this worker's series, or none when it is not metered. */
async function sendMetrics(meter: PromMeter | null): Promise<void> {
  send({ event: 'metrics', json: meter ? await meter.registry.getMetricsAsJSON() : [] });
}

/** Runs this worker; resolves with its exit code once it has stopped serving. */
export async function runWorker(): Promise<number> {
  ignoreForwardedSignals();
  nativeAddon();
  const log = new Log();
  const start = await startCommand();
  const workerId = cluster.worker?.id ?? 0;
  setConnectionIdPrefix(`${workerId}.`);
  const secret = Buffer.from(start.ticketSecretBase64, 'base64');
  const keys = new PassphraseBook(null, start.passphrases);
  const engine = new Engine(log, keys);
  let meter: PromMeter | null = null;
  /** The configuration being served: where sessions from the other workers go. */
  let serving: Prepared | null = null;
  const outbox = new Batches((list) => send({ event: 'sessions', list }));
  try {
    const config = configFrom(start.configBase64, start.source);
    // `metrics`: the primary serves the endpoint and sums what each worker counts.
    if (config.global.metrics !== null) meter = engine.meter = new PromMeter({ processMetrics: true });
    const settings = workerLogSettings(config);
    log.openSyslog(settings);
    const prepared = engine.prepare(config);
    shareTicketKeys(prepared, secret);
    offerSessions(prepared, outbox);
    await engine.start(prepared);
    serving = prepared;
    confine(config.global);
    const shown = new Set(start.shown);
    log.open(settings, { replay: start.replay ? (text) => !shown.has(text) : false });
    if (start.daemonized) {
      process.chdir('/');
      log.daemonized();
    }
  } catch (error) {
    send({ event: 'failed', lines: configFailureLines(error) });
    await engine.close().catch(() => undefined);
    log.close();
    process.disconnect?.();
    return 1;
  }

  process.on('uncaughtException', (error) => {
    log.write(3, 'ui', `Internal error: ${error.stack ?? error.message}`);
    process.exit(1);
  });

  let reloading: Promise<void> = Promise.resolve();
  const reload = async (command: Extract<Command, { cmd: 'reload' }>): Promise<void> => {
    try {
      const next = configFrom(command.configBase64, command.source);
      keys.learn(command.passphrases);
      const prepared = engine.prepare(next, { logNotices: false });
      shareTicketKeys(prepared, secret);
      offerSessions(prepared, outbox);
      log.reconfigure(workerLogSettings(next));
      await engine.reload(prepared);
      serving = prepared;
      log.flush();
      send({ event: 'reloaded', failure: null });
    } catch (error) {
      send({ event: 'reloaded', failure: configFailureLines(error) });
    }
  };

  return new Promise<number>((resolve) => {
    let stopping = false;
    /** Ends serving: at once, or after a drain; a `terminate` during a drain drops what is left. */
    const stop = async (drainSeconds = 0) => {
      if (stopping) {
        await engine.close().catch(() => undefined);
        return;
      }
      stopping = true;
      process.off('SIGTERM', onTerm);
      await (drainSeconds > 0 ? engine.drain(drainSeconds) : engine.close()).catch(() => undefined);
      process.off('message', onCommand);
      log.close();
      // Leaving the IPC channel ends the worker (cluster exits a worker whose primary link closed).
      process.disconnect?.();
      resolve(0);
    };
    const onCommand = (message: unknown) => {
      if (!isCommand(message)) return;
      switch (message.cmd) {
        case 'reload': reloading = reloading.then(() => reload(message)); break;
        case 'reopenLog': log.reopen(false); break;
        case 'listConnections': send({ event: 'connections', list: engine.activeConnections() }); break;
        case 'metrics': void sendMetrics(meter); break;
        case 'terminate': void stop(); break;
        case 'drain': void stop(message.seconds); break;
        case 'sessions': if (serving) adoptSessions(serving, message.list); break;
        case 'start': break;
      }
    };
    process.on('message', onCommand);
    // TERM sent to this worker alone (not through the primary): stop; the primary starts another.
    const onTerm = () => void stop();
    process.on('SIGTERM', onTerm);
    // The start-up lines first: the primary logs its own once the workers are ready.
    log.flush();
    send({ event: 'ready' });
  });
}
