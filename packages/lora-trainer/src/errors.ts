import { isFormatsError } from '@sarai/formats';

/**
 * Stable error codes of @sarai/lora-trainer. Callers switch on `code`; messages are for humans and may change.
 * Messages never contain prompt or answer text.
 */
export const TRAINER_ERROR_CODES = [
  /** An option is out of range or inconsistent (rank, epochs, paths, ...). */
  'TRAINER_INVALID_OPTIONS',
  /** This platform has no bundled llama.cpp binaries (only linux-x64 glibc is supported). */
  'TRAINER_UNSUPPORTED_PLATFORM',
  /** The bundled libllama / libggml shared libraries were not found. */
  'TRAINER_LIBRARY_NOT_FOUND',
  /** The shared libraries were found but could not be loaded, or a symbol is missing. */
  'TRAINER_FFI_LOAD_FAILED',
  /** A C struct layout or default value read back from the library does not match this package's declaration. */
  'TRAINER_ABI_MISMATCH',
  /** The internal llama_adapter_lora layout does not match what this package expects. */
  'TRAINER_INTERNAL_LAYOUT',
  /** The base model could not be loaded (missing file, not a GGUF, unsupported architecture, ...). */
  'TRAINER_MODEL_LOAD_FAILED',
  /** The llama context could not be created. */
  'TRAINER_CONTEXT_FAILED',
  /** A requested LoRA target tensor does not exist in the base model (or is not a 2-D weight). */
  'TRAINER_TARGET_NOT_FOUND',
  /** llama.cpp rejected the freshly initialised adapter. */
  'TRAINER_ADAPTER_LOAD_FAILED',
  /** Tokenization or chat-template rendering failed. */
  'TRAINER_TOKENIZE_FAILED',
  /** Nothing to train on (no eligible example). */
  'TRAINER_EMPTY_DATASET',
  /** llama_decode failed. */
  'TRAINER_DECODE_FAILED',
  /** Training produced a non-finite loss or weights. */
  'TRAINER_TRAINING_FAILED',
  /** The training run was aborted through its AbortSignal. */
  'TRAINER_ABORTED',
  /** A GGUF file is malformed or not what was expected. */
  'TRAINER_GGUF_INVALID',
  /** The interaction log could not be read. */
  'TRAINER_LOG_UNREADABLE',
  /** A file could not be read or written. */
  'TRAINER_IO',
  /** The manifest could not be signed. */
  'TRAINER_SIGNING_FAILED',
  /** A manifest is malformed, unsigned, badly signed or does not match its adapter. */
  'TRAINER_MANIFEST_INVALID',
  /** Publishing would overwrite an existing file. */
  'TRAINER_PUBLISH_CONFLICT',
  /** Another nightly run holds the lock. */
  'TRAINER_LOCKED',
] as const;

export type TrainerErrorCode = (typeof TRAINER_ERROR_CODES)[number];

export class TrainerError extends Error {
  override readonly name = 'TrainerError';
  readonly code: TrainerErrorCode;

  constructor(code: TrainerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isTrainerError(value: unknown, code?: TrainerErrorCode): value is TrainerError {
  return value instanceof TrainerError && (code === undefined || value.code === code);
}

/**
 * The TrainerError for a @sarai/formats error (GGUF parsing, file reads), keeping its meaning:
 * FORMATS_GGUF_INVALID → TRAINER_GGUF_INVALID, FORMATS_IO → TRAINER_IO, FORMATS_INVALID_ARGUMENT →
 * TRAINER_INVALID_OPTIONS. Anything else is returned unchanged.
 */
export function asTrainerError(error: unknown): unknown {
  if (!isFormatsError(error)) return error;
  const code: TrainerErrorCode =
    error.code === 'FORMATS_GGUF_INVALID'
      ? 'TRAINER_GGUF_INVALID'
      : error.code === 'FORMATS_IO'
        ? 'TRAINER_IO'
        : 'TRAINER_INVALID_OPTIONS';
  return new TrainerError(code, error.message, { cause: error.cause ?? error });
}
