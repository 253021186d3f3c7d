import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Fields that could carry prompt text or key material. @sarai/signer itself only logs fingerprints, hashes and
 * sequence numbers; these paths are redacted in case a caller adds such a field to a child logger.
 */
export const SIGNER_REDACT_PATHS = [
  'passphrase',
  'privateKey',
  'armoredKey',
  'key',
  'prompt',
  'text',
  'signedPrompt',
  '*.passphrase',
  '*.privateKey',
  '*.armoredKey',
  '*.key',
  '*.prompt',
  '*.text',
  '*.signedPrompt',
];

export interface SignerLoggerOptions {
  /** pino level (default `info`, or `SARAI_LOG_LEVEL`). */
  level?: string;
  /** Where JSON lines go (default stderr, so CLI output on stdout stays clean). */
  destination?: DestinationStream;
  /** Disables redaction of prompts/key fields. Off by default; only for local debugging. */
  revealSecrets?: boolean;
}

/** pino JSON logger for the signer, redacting prompts and key material unless `revealSecrets` is set. */
export function createSignerLogger(options: SignerLoggerOptions = {}): Logger {
  return pino(
    {
      name: 'sarai-signer',
      level: options.level ?? process.env['SARAI_LOG_LEVEL'] ?? 'info',
      ...(options.revealSecrets ? {} : { redact: { paths: SIGNER_REDACT_PATHS, censor: '[redacted]' } }),
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
