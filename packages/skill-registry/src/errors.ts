/** Stable codes of {@link RegistryError}. */
export type RegistryErrorCode =
  | 'REGISTRY_BAD_ENTRY'
  | 'REGISTRY_BAD_FILE'
  | 'REGISTRY_DUPLICATE'
  | 'REGISTRY_UNKNOWN_SKILL'
  | 'REGISTRY_BAD_TEMPLATE'
  | 'REGISTRY_BAD_COMPOSE_ENV';

/** The one error class of @sarai/skill-registry; `code` is stable, `message` says what to fix. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
