/**
 * @module process/failures
 * An error as the lines stunnel prints for it, shared by the single process, the primary
 * and the workers.
 */
import { ConfigError } from '../errors';

/** The error's lines in stunnel's shape (ConfigError/StartupError carry them; anything else is one line). */
export function messagesOf(error: unknown): readonly string[] {
  const messages = (error as { messages?: unknown } | null)?.messages;
  if (Array.isArray(messages) && messages.length > 0) return messages.map(String);
  return [error instanceof Error ? error.message : String(error)];
}

/**
 * stunnel builds its TLS contexts while it reads the configuration, so a context that fails
 * (a key that does not load) also ends with `Configuration failed`.
 */
export function contextFailureLines(error: unknown): readonly string[] {
  return [...messagesOf(error), 'Configuration failed'];
}

/** stunnel closes a failed parse with `Configuration failed`, but not a file it could not open. */
export function configFailureLines(error: unknown): readonly string[] {
  const messages = messagesOf(error);
  const unopened = /^(Invalid configuration file name|Cannot open configuration file)/.test(messages[0]);
  return error instanceof ConfigError && !unopened ? [...messages, 'Configuration failed'] : messages;
}
