import { PROMPT_PATHS, SECRET_PATHS, createLogger } from '@sarai/skill-runtime/logger';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Fields redacted in trainer logs: the shared lists of @sarai/skill-runtime's logger (interaction text — prompt,
 * answer, final, response, text — and key material).
 */
export const TRAINER_REDACT_PATHS = [...PROMPT_PATHS, ...SECRET_PATHS];

export interface TrainerLoggerOptions {
  /** pino level (default `info`, or `SARAI_LOG_LEVEL`). */
  level?: string;
  /** Default stderr, so the CLI's JSON result on stdout stays clean. */
  destination?: DestinationStream;
  /** Logs interaction text in clear (local debugging only). Key material stays redacted. */
  revealSecrets?: boolean;
}

/** The shared redacting pino logger, named for the trainer and writing to stderr by default. */
export function createTrainerLogger(options: TrainerLoggerOptions = {}): Logger {
  return createLogger({
    name: 'sarai-lora-trainer',
    level: options.level ?? process.env['SARAI_LOG_LEVEL'] ?? 'info',
    logPrompts: options.revealSecrets === true,
    destination: options.destination ?? pino.destination(2),
    base: { pid: process.pid },
  });
}
