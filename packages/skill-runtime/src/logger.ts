// The one redacting logger of SARAi (skills, signer, lora-trainer). Importable without the gRPC runtime through the
// subpath `@sarai/skill-runtime/logger` (depends on pino only).
import { pino, type Logger, type DestinationStream } from 'pino';

const deep = (fields: readonly string[]) => fields.flatMap((f) => [f, `*.${f}`]);

/** Fields that may carry user prompts, model output, interaction text or image bytes. Redacted unless enabled. */
export const PROMPT_PATHS = deep([
  'prompt',
  'text',
  'response',
  'answer',
  'final',
  'signedPrompt',
  'image_data',
  'imageData',
]);

/** Fields that may carry key material. Always redacted, whatever the options. */
export const SECRET_PATHS = deep(['key', 'privateKey', 'passphrase', 'armoredKey', 'privateKeyArmored']);

export interface LoggerOptions {
  /** Logger name (pino `name`). */
  name: string;
  level?: string;
  /** Log prompts and outputs in clear (off by default: they are replaced by "[redacted]"). Key material never. */
  logPrompts?: boolean;
  /** Where to write (stdout by default); tests pass a stream, CLIs stderr. */
  destination?: DestinationStream;
  /** Fields on every line (default `{ skill: name, pid }`; CLIs pass their own, e.g. `{ pid }`). */
  base?: Record<string, unknown>;
}

/** A pino JSON logger with prompts redacted unless `logPrompts`, and key material always redacted. */
export function createLogger(opts: LoggerOptions): Logger {
  const paths = opts.logPrompts ? SECRET_PATHS : [...PROMPT_PATHS, ...SECRET_PATHS];
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths, censor: '[redacted]' },
      base: opts.base ?? { skill: opts.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
