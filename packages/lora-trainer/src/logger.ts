import { pino, type DestinationStream, type Logger } from 'pino';

/** Fields that could carry interaction text or key material; redacted unless explicitly revealed. */
export const TRAINER_REDACT_PATHS = [
  'prompt',
  'answer',
  'final',
  'response',
  'text',
  'passphrase',
  'armoredKey',
  'privateKey',
  '*.prompt',
  '*.answer',
  '*.final',
  '*.response',
  '*.text',
  '*.passphrase',
  '*.armoredKey',
  '*.privateKey',
];

export interface TrainerLoggerOptions {
  /** pino level (default `info`, or `SARAI_LOG_LEVEL`). */
  level?: string;
  /** Default stderr, so the CLI's JSON result on stdout stays clean. */
  destination?: DestinationStream;
  /** Disables redaction (local debugging only). */
  revealSecrets?: boolean;
}

export function createTrainerLogger(options: TrainerLoggerOptions = {}): Logger {
  return pino(
    {
      name: 'sarai-lora-trainer',
      level: options.level ?? process.env['SARAI_LOG_LEVEL'] ?? 'info',
      ...(options.revealSecrets ? {} : { redact: { paths: TRAINER_REDACT_PATHS, censor: '[redacted]' } }),
    },
    options.destination ?? pino.destination(2),
  );
}
