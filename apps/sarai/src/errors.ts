/** Stable codes of {@link CliError}. */
export type CliErrorCode = 'CLI_USAGE' | 'CLI_CONFIG' | 'CLI_FAILED';

/** The one error class of the sarai CLI: printed as one line, never with a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: CliErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const usageError = (message: string) => new CliError('CLI_USAGE', message);
