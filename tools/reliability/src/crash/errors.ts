/** Stable codes of {@link CrashCheckError}. */
export type ReliabilityErrorCode =
  'RELIABILITY_CHECK_FAILED' | 'RELIABILITY_CHILD_FAILED' | 'RELIABILITY_USAGE';

/** The one error class of @sarai/reliability: a violated guarantee or a harness failure. */
export class CrashCheckError extends Error {
  override readonly name = 'CrashCheckError';
  readonly code: ReliabilityErrorCode;
  constructor(
    readonly writer: string,
    message: string,
    code: ReliabilityErrorCode = 'RELIABILITY_CHECK_FAILED',
  ) {
    super(`${writer}: ${message}`);
    this.code = code;
  }
}
