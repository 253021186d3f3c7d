/** Stable codes of {@link ProtoError}. */
export type ProtoErrorCode = 'PROTO_BAD_OPTION' | 'PROTO_BAD_ADDRESS';

/** The one error class of @sarai/proto: bad options given to the helpers of this package. */
export class ProtoError extends Error {
  override readonly name = 'ProtoError';
  constructor(
    readonly code: ProtoErrorCode,
    message: string,
  ) {
    super(message);
  }
}
