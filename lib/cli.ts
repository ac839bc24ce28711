/**
 * @module cli
 * The command line, with stunnel's syntax:
 * `stunnel-ts [FILE] | -fd N | -help | -version | -options | -sockets | -test [FILE]`.
 * Flags are case-insensitive and take one or two dashes; only argv[1] (and argv[2]
 * after `-fd` / `-test`) is looked at; any other word starting with `-` is a file name.
 * Info goes to stderr, as stunnel prints it. This is the only place that prints a
 * fatal error and picks the exit code.
 */
import { ConfigError, EXIT_FAILURE, StartupError } from './errors';
import { cleanText } from './log';
import { DEFAULT_CONFIG_FILE, resolveConfigPath } from './config/load';
import { testConfiguration } from './lint';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { OPTIONS, type OptionRow } from './config/options';
import { TLS_OPTIONS } from './config/tls-options';
import { SOCKET_OPTIONS } from './config/values';
import { STUNNEL_VERSION, VERSION } from './version';

// ---------------------------------------------------------------- info texts (stunnel's layout)

function platform(): string {
  const arch = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686' }[process.arch as string] ?? process.arch;
  return `${arch}-pc-${process.platform === 'linux' ? 'linux-gnu' : process.platform}`;
}

/** The banner stunnel prints first (also at the top of every start-up log). */
export function bannerLines(): string[] {
  return [
    `stunnel ${STUNNEL_VERSION} (stunnel-ts ${VERSION}) on ${platform()} platform`,
    // Node's OpenSSL is both the compile-time and the run-time library: stunnel's collapsed form.
    `Compiled/running with OpenSSL ${process.versions.openssl}`,
    'Threading:NODE Sockets:POLL,IPv6 TLS:PSK,SNI',
  ];
}

const line = (name: string, value: string) => `${name.padEnd(22)} = ${value}`;

function byScope(scope: OptionRow['scope'], render: (row: OptionRow) => string[]): string[] {
  return OPTIONS.filter((r) => r.scope === scope).flatMap(render);
}

function sections(render: (row: OptionRow) => string[]): string[] {
  return [' ', 'Global options:', ...byScope('global', render), ' ', 'Service-level options:', ...byScope('service', render)];
}

export function versionText(): string[] {
  return [...bannerLines(), ...sections((r) => r.versionDefaults.map((v) => line(r.name, v)))];
}

export function helpText(): string[] {
  return [...bannerLines(), ...sections((r) => {
    if (r.help === null) return [];
    const [first, ...more] = r.help.split('\n');
    return [line(r.name, first), ...more.map((m) => ' '.repeat(25) + m)];
  })];
}

export function tlsOptionsText(): string[] {
  return [...bannerLines(), ' ', 'Supported TLS options:', ...TLS_OPTIONS.map((o) => `options = ${o.name}`)];
}

export function socketsText(): string[] {
  const cell = (v: string | undefined) => (v === undefined ? '    --    ' : v.padStart(10));
  return [
    ...bannerLines(), ' ', 'Socket option defaults:',
    '    Option Name         |  Accept  |   Local  |  Remote  |OS default',
    '    --------------------+----------+----------+----------+----------',
    ...SOCKET_OPTIONS.map((o) => `    ${o.name.padEnd(20)}|${cell(o.accept)}|${cell(o.local)}|${cell(o.remote)}|${o.osDefault.padStart(10)}`),
  ];
}

/** The syntax block stunnel prints after a command-line error. */
export function syntaxLines(): string[] {
  return [
    'Syntax:',
    'stunnel [<filename>] ] -fd <n> | -help | -version | -sockets | -options',
    '    <filename>  - use specified config file',
    '    -fd <n>     - read the config file from a file descriptor',
    '    -help       - get config file help',
    '    -version    - display version and defaults',
    '    -sockets    - display default socket options',
    '    -options    - display supported TLS options',
    '    -test       - check the configuration completely and exit (stunnel-ts)',
  ];
}

// ---------------------------------------------------------------- arguments

const FLAGS = ['help', 'version', 'options', 'sockets', 'fd', 'test'] as const;
type Flag = (typeof FLAGS)[number];

/** What the command line asks for. */
export type Invocation =
  | { readonly kind: 'info'; readonly flag: 'help' | 'version' | 'options' | 'sockets' }
  | { readonly kind: 'run'; readonly configFile?: string; readonly configFd?: number }
  | { readonly kind: 'test'; readonly configFile?: string; readonly configFd?: number }
  | { readonly kind: 'usage-error'; readonly message: string };

function flagOf(word: string | undefined): Flag | null {
  const m = word === undefined ? null : /^--?([a-z]+)$/i.exec(word);
  const name = m?.[1].toLowerCase();
  return (FLAGS as readonly string[]).includes(name ?? '') ? (name as Flag) : null;
}

/** `-fd N`: stunnel's checks on N. */
function fdTarget(word: string | undefined): { configFd: number } | { message: string } {
  if (word === undefined) return { message: 'No file descriptor specified' };
  if (!/^\d+$/.test(word)) return { message: 'Invalid file descriptor number' };
  return { configFd: Number(word) };
}

/**
 * Reads argv (as process.argv: node, script, args…) by stunnel's rules: only the first word
 * may be a flag; `-fd` takes the next word, `-test` an optional file or `-fd N`. commander is
 * not used for this (README, "The command line"): its grammar has no single-dash long flags and
 * would read later words as options where stunnel reads a file name.
 */
export function parseArgs(argv: readonly string[]): Invocation {
  const [first, second, third] = argv.slice(2);
  const flag = flagOf(first);
  switch (flag) {
    case null:
      return { kind: 'run', configFile: first ?? DEFAULT_CONFIG_FILE };
    case 'help':
    case 'version':
    case 'options':
    case 'sockets':
      return { kind: 'info', flag };
    case 'fd':
      return withFd('run', second);
    case 'test':
      return flagOf(second) === 'fd' ? withFd('test', third) : { kind: 'test', configFile: second ?? DEFAULT_CONFIG_FILE };
  }
}

function withFd(kind: 'run' | 'test', word: string | undefined): Invocation {
  const target = fdTarget(word);
  return 'message' in target ? { kind: 'usage-error', message: target.message } : { kind, ...target };
}

/** Lines to stderr, as stunnel prints them: control characters from the file shown as `.`. */
const say = (lines: readonly string[]) => { for (const l of lines) process.stderr.write(cleanText(l) + '\n'); };

/** Prints a fatal error in stunnel's start-up shape and returns the exit code. */
export function reportFatal(err: unknown): number {
  if (err instanceof ConfigError) {
    say(err.messages.map((m) => `[!] ${m}`));
    say(['[!] Configuration failed']);
  } else if (err instanceof StartupError) {
    say(err.messages.map((m) => `[!] ${m}`));
  } else {
    // A bug of ours, not the user's input: one line, the stack only on request.
    const detail = err instanceof Error && process.env.STUNNEL_TS_DEBUG ? err.stack ?? err.message : String(err);
    say([`[!] INTERNAL ERROR: ${detail}`]);
  }
  return EXIT_FAILURE;
}

/** realpath'd config file, or the two-line `Invalid configuration file name` failure (no trailer). */
function resolveOrReport(name: string): string | null {
  try {
    return resolveConfigPath(name);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    say(err.messages.map((m) => `[!] ${m}`));
    return null;
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const inv = parseArgs(argv);
  switch (inv.kind) {
    case 'info':
      say({ help: helpText, version: versionText, options: tlsOptionsText, sockets: socketsText }[inv.flag]());
      return 0;
    case 'usage-error':
      say([`[!] ${inv.message}`, ...syntaxLines().map((l) => `[.] ${l}`)]);
      return EXIT_FAILURE;
    case 'test':
    case 'run': {
      let source: { file: string } | { fd: number };
      if (inv.configFd !== undefined) source = { fd: inv.configFd };
      else {
        const file = resolveOrReport(inv.configFile ?? DEFAULT_CONFIG_FILE);
        if (file === null) return EXIT_FAILURE;
        source = { file };
      }
      if (inv.kind === 'test') return testConfiguration(source, say);
      const { run } = await import('./process/lifecycle');
      return run('fd' in source ? { configFd: source.fd } : { configFile: source.file });
    }
  }
}

/** Entry point of bin/stunnel-ts. */
/**
 * Init scripts find their daemon by name: Debian's `start-stop-daemon --name` compares
 * /proc/PID/comm with the base name of $DAEMON. A Node script's comm is `node`, so take the
 * name this command was started as (`stunnel-ts`, or `stunnel4` through a symlink of that
 * name). Writing comm, unlike `process.title`, leaves /proc/PID/cmdline (the config path) intact.
 */
function nameProcessAsInvoked(argv: string[]): void {
  try {
    writeFileSync('/proc/self/comm', basename(argv[1] ?? 'stunnel-ts').slice(0, 15));
  } catch {
    // not Linux: nothing to match against
  }
}

export function main(argv: string[]): void {
  nameProcessAsInvoked(argv);
  dispatch(argv).then(
    (code) => { process.exitCode = code; },
    (err) => { process.exitCode = reportFatal(err); },
  );
}
