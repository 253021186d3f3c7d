/** Stable codes of {@link RegistriesError}. */
export type RegistriesErrorCode =
  | 'REGISTRIES_BAD_PACKAGE'
  | 'REGISTRIES_COMMAND_FAILED'
  | 'REGISTRIES_START_FAILED'
  | 'REGISTRIES_NOT_INSTALLED'
  | 'REGISTRIES_HTTP';

/** The one error class of @sarai/registries: a stable `code` plus a message that says what to fix. */
export class RegistriesError extends Error {
  override readonly name = 'RegistriesError';
  constructor(
    readonly code: RegistriesErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
