/**
 * @module config/load
 * The public entry of config/: a file name or descriptor in, a frozen Config out
 * (or a ConfigError carrying every problem found, in stunnel's message shape).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { errnoText } from '../errno';
import { ConfigError } from '../errors';
import { buildConfig } from './build';
import { decodeConfigBytes, lex } from './lexer';
import type { Config } from './model';

/** The file stunnel reads when the command line names none. */
export const DEFAULT_CONFIG_FILE = '/etc/stunnel/stunnel.conf';

/**
 * Reads and builds the configuration. A file name is realpath'd first (that name is
 * what messages show and what a reload re-reads); `{ fd }` reads the descriptor to its end.
 */
export function loadConfig(source: { file: string } | { fd: number }): Config {
  if ('fd' in source) return loadConfigText(decodeConfigBytes(readConfigDescriptor(source.fd)), String(source.fd));
  const file = resolveConfigPath(source.file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ConfigError([`Cannot open configuration file ${file}: ${errnoText(err)}`]);
  }
  return loadConfigText(decodeConfigBytes(bytes), file);
}

/**
 * `-fd N`: the descriptor read to its end, once; the text stays in memory (whoever needs it
 * again, a daemon child or the workers, gets these bytes, never a file written for them).
 */
export function readConfigDescriptor(fd: number): Buffer {
  try {
    return readFileSync(fd);
  } catch {
    throw new ConfigError(['Cannot open configuration file']);
  }
}

/** Builds a configuration from text; `file` is the name used in messages. */
export function loadConfigText(text: string, file: string): Config {
  return buildConfig(lex(text, file), file);
}

/** realpath(3) of the configuration file name, failing with stunnel's two lines. */
export function resolveConfigPath(name: string): string {
  try {
    return realpathSync(name);
  } catch (err) {
    throw new ConfigError([`Invalid configuration file name "${name}"`, `realpath: ${errnoText(err)}`]);
  }
}
