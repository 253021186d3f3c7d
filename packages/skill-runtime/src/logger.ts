import { pino, type Logger, type DestinationStream } from 'pino';

/** Fields that may carry user prompts, model output or image bytes. */
export const PROMPT_PATHS = [
  'prompt',
  '*.prompt',
  'text',
  '*.text',
  'response',
  '*.response',
  'image_data',
  '*.image_data',
  'imageData',
  '*.imageData',
];
/** Fields that may carry key material. Always redacted. */
export const SECRET_PATHS = [
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
  'passphrase',
  '*.passphrase',
  'armoredKey',
  '*.armoredKey',
];

export interface LoggerOptions {
  name: string;
  level?: string;
  /** Log prompts and outputs in clear (off by default: they are replaced by "[redacted]"). */
  logPrompts?: boolean;
  /** Where to write (stdout by default); tests pass a stream. */
  destination?: DestinationStream;
}

/** A pino JSON logger with prompts redacted unless `logPrompts`, and key material always redacted. */
export function createLogger(opts: LoggerOptions): Logger {
  const paths = opts.logPrompts ? SECRET_PATHS : [...PROMPT_PATHS, ...SECRET_PATHS];
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths, censor: '[redacted]' },
      base: { skill: opts.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
