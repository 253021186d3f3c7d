/** Stable codes of {@link SkillRuntimeError}. */
export type SkillRuntimeErrorCode =
  /** An environment setting is invalid (the message names it). Exit code 2. */
  | 'RUNTIME_BAD_CONFIG'
  /** The skill could not start: port taken, model or cache unusable (the message says which). Exit code 1. */
  | 'RUNTIME_START_FAILED'
  /** Admission refused a call: every slot busy and the queue full (RESOURCE_EXHAUSTED on the wire). */
  | 'RUNTIME_BUSY'
  /** A call was cancelled (client cancel or deadline) while it waited in the admission queue. */
  | 'RUNTIME_CANCELLED';

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
