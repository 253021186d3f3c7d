import { status } from '@grpc/grpc-js';
import type { ErrorStatusTable } from '@sarai/skill-runtime';

/** Stable codes of {@link ImageError}. */
export type ImageErrorCode =
  /** A request option is out of range (format, quality, max_dimension). */
  | 'IMAGE_BAD_REQUEST'
  /** image_data is empty. */
  | 'IMAGE_EMPTY'
  /** The bytes are not an image of an accepted format (SVG, TIFF, PDF, text, ...). */
  | 'IMAGE_UNSUPPORTED_FORMAT'
  /** The bytes look like an accepted format but do not decode (corrupt, truncated). */
  | 'IMAGE_CORRUPT'
  /** Too many pixels (decompression bomb) or too many bytes. */
  | 'IMAGE_TOO_LARGE'
  /** Processing took longer than the per-request timeout. */
  | 'IMAGE_TIMEOUT'
  /** Too many requests queued. */
  | 'IMAGE_BUSY'
  /** The cache directory cannot be used (permissions, disk full, tampered path). */
  | 'IMAGE_CACHE_IO'
  /** Invalid pipeline options. */
  | 'IMAGE_BAD_CONFIG'
  /** The pipeline was closed. */
  | 'IMAGE_CLOSED';

/** The one error class of @sarai/skill-image. Messages say what was wrong with the input and what to do. */
export class ImageError extends Error {
  override readonly name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The gRPC status a client sees for each error code (the skill's one table; see @sarai/skill-runtime). */
export const IMAGE_ERROR_STATUS = {
  IMAGE_BAD_REQUEST: 'INVALID_ARGUMENT',
  IMAGE_EMPTY: 'INVALID_ARGUMENT',
  IMAGE_UNSUPPORTED_FORMAT: 'INVALID_ARGUMENT',
  IMAGE_CORRUPT: 'INVALID_ARGUMENT',
  IMAGE_TOO_LARGE: 'RESOURCE_EXHAUSTED',
  IMAGE_BUSY: 'RESOURCE_EXHAUSTED',
  IMAGE_TIMEOUT: 'DEADLINE_EXCEEDED',
  IMAGE_CLOSED: 'UNAVAILABLE',
  IMAGE_CACHE_IO: 'INTERNAL',
  IMAGE_BAD_CONFIG: 'INTERNAL',
} as const satisfies ErrorStatusTable<ImageErrorCode>;

/** The gRPC status a client sees for an error code. */
export function grpcCodeOf(code: ImageErrorCode): status {
  return status[IMAGE_ERROR_STATUS[code]];
}
