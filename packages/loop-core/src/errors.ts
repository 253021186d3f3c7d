/** Stable codes of {@link LoopError}. */
export type LoopErrorCode =
  | 'LOOP_BAD_OPTION'
  | 'LOOP_BAD_INPUT'
  | 'LOOP_UNKNOWN_SKILL'
  | 'LOOP_SKILL_UNAVAILABLE'
  | 'LOOP_SKILL_REJECTED'
  | 'LOOP_SIGNING_FAILED'
  /** The caller aborted the run (RunOptions.signal): the draft generation was cancelled too. */
  | 'LOOP_CANCELLED';

/** The one error class of @sarai/loop-core. */
export class LoopError extends Error {
  override readonly name = 'LoopError';
  constructor(
    readonly code: LoopErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
