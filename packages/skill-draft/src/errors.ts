/** Stable codes of {@link DraftError}. */
export type DraftErrorCode =
  | 'DRAFT_BAD_CONFIG'
  | 'DRAFT_BAD_REQUEST'
  | 'DRAFT_BAD_GRAMMAR'
  | 'DRAFT_PROMPT_TOO_LONG'
  | 'DRAFT_QUEUE_FULL'
  | 'DRAFT_UNKNOWN_ADAPTER'
  | 'DRAFT_ADAPTER_REJECTED'
  | 'DRAFT_NOT_READY'
  | 'DRAFT_MODEL_LOAD_FAILED'
  | 'DRAFT_GGUF_INVALID';

/** The one error class of @sarai/skill-draft. */
export class DraftError extends Error {
  override readonly name = 'DraftError';
  constructor(
    readonly code: DraftErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
