import { status } from '@grpc/grpc-js';

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

/** The gRPC status a client sees for each error code. */
export function grpcCodeOf(code: ImageErrorCode): status {
  switch (code) {
    case 'IMAGE_BAD_REQUEST':
    case 'IMAGE_EMPTY':
    case 'IMAGE_UNSUPPORTED_FORMAT':
    case 'IMAGE_CORRUPT':
      return status.INVALID_ARGUMENT;
    case 'IMAGE_TOO_LARGE':
    case 'IMAGE_BUSY':
      return status.RESOURCE_EXHAUSTED;
    case 'IMAGE_TIMEOUT':
      return status.DEADLINE_EXCEEDED;
    case 'IMAGE_CLOSED':
      return status.UNAVAILABLE;
    case 'IMAGE_CACHE_IO':
    case 'IMAGE_BAD_CONFIG':
      return status.INTERNAL;
  }
}
