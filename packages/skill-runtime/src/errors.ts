/** Stable codes of {@link SkillRuntimeError}. */
export type SkillRuntimeErrorCode = 'RUNTIME_BAD_CONFIG' | 'RUNTIME_START_FAILED';

/** The one error class of @sarai/skill-runtime. */
export class SkillRuntimeError extends Error {
  override readonly name = 'SkillRuntimeError';
  constructor(
    readonly code: SkillRuntimeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
