/** Stable error codes of the sandbox skill. */
export type SandboxErrorCode =
  /** The request cannot be run as given (the message says what to fix). */
  | 'SANDBOX_BAD_REQUEST'
  /** The runner could not start a child (Node missing, no tmp space); the service itself is unwell. */
  | 'SANDBOX_RUNNER_FAILED'
  /** The configuration is invalid. */
  | 'SANDBOX_BAD_CONFIG';

/** The one error class of @sarai/skill-sandbox. */
export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
