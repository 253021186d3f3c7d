/**
 * Stable error codes of @sarai/formats. Callers switch on `code`; messages are for humans and may change.
 * Messages never contain prompt or answer text.
 */
export const FORMATS_ERROR_CODES = [
  /** A GGUF file (or a GGUF file spec to write) is malformed: bad magic/version, truncated, bad tensor shape, ... */
  'FORMATS_GGUF_INVALID',
  /** A file could not be opened, read or written (the cause carries the errno). */
  'FORMATS_IO',
  /** An argument is out of range (e.g. a GGUF alignment that is not a power of two). */
  'FORMATS_INVALID_ARGUMENT',
] as const;

export type FormatsErrorCode = (typeof FORMATS_ERROR_CODES)[number];

/** The one error class of @sarai/formats. */
export class FormatsError extends Error {
  override readonly name = 'FormatsError';
  readonly code: FormatsErrorCode;

  constructor(code: FormatsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True when `value` is a {@link FormatsError} (with `code`, when given). */
export function isFormatsError(value: unknown, code?: FormatsErrorCode): value is FormatsError {
  return value instanceof FormatsError && (code === undefined || value.code === code);
}
