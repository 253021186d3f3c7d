import type { ErrorStatusTable } from '@sarai/skill-runtime';

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

/** The gRPC status a client sees for each error code (the skill's one table; see @sarai/skill-runtime). */
export const DRAFT_ERROR_STATUS = {
  DRAFT_BAD_CONFIG: 'FAILED_PRECONDITION',
  DRAFT_BAD_REQUEST: 'INVALID_ARGUMENT',
  DRAFT_BAD_GRAMMAR: 'INVALID_ARGUMENT',
  DRAFT_PROMPT_TOO_LONG: 'INVALID_ARGUMENT',
  DRAFT_QUEUE_FULL: 'RESOURCE_EXHAUSTED',
  DRAFT_UNKNOWN_ADAPTER: 'NOT_FOUND',
  DRAFT_ADAPTER_REJECTED: 'FAILED_PRECONDITION',
  DRAFT_NOT_READY: 'UNAVAILABLE',
  DRAFT_MODEL_LOAD_FAILED: 'UNAVAILABLE',
  DRAFT_GGUF_INVALID: 'INTERNAL',
} as const satisfies ErrorStatusTable<DraftErrorCode>;
