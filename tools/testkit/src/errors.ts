/** Stable codes of the one error class of @sarai/testkit. */
export type TestkitErrorCode =
  | 'TESTKIT_BAD_OPTIONS'
  | 'TESTKIT_DOCKER_UNAVAILABLE'
  | 'TESTKIT_IMAGE_MISSING'
  | 'TESTKIT_HARDENING_VIOLATED'
  | 'TESTKIT_PROBE_FAILED';

export class TestkitError extends Error {
  readonly code: TestkitErrorCode;
  constructor(code: TestkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestkitError';
    this.code = code;
  }
}
