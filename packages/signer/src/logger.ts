import { PROMPT_PATHS, SECRET_PATHS, createLogger } from '@sarai/skill-runtime/logger';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Fields redacted in signer logs: the shared lists of @sarai/skill-runtime's logger (prompts and key material).
 * @sarai/signer itself only logs fingerprints, hashes and sequence numbers; these paths are redacted in case a
 * caller adds such a field to a child logger.
 */
export const SIGNER_REDACT_PATHS = [...PROMPT_PATHS, ...SECRET_PATHS];

export interface SignerLoggerOptions {
  /** pino level (default `info`, or `SARAI_LOG_LEVEL`). */
  level?: string;
  /** Where JSON lines go (default stderr, so CLI output on stdout stays clean). */
  destination?: DestinationStream;
  /** Logs prompt fields in clear (local debugging only). Key material stays redacted. */
  revealSecrets?: boolean;
}

/** The shared redacting pino logger, named for the signer and writing to stderr by default. */
export function createSignerLogger(options: SignerLoggerOptions = {}): Logger {
  return createLogger({
    name: 'sarai-signer',
    level: options.level ?? process.env['SARAI_LOG_LEVEL'] ?? 'info',
    logPrompts: options.revealSecrets === true,
    destination: options.destination ?? pino.destination({ dest: 2, sync: true }),
    base: { pid: process.pid },
  });
}
