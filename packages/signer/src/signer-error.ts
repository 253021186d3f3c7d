/**
 * Stable error codes of @sarai/signer. Callers switch on `code`; messages are for humans and may change.
 * Messages never contain key material, passphrases or prompt text.
 */
export const SIGNER_ERROR_CODES = [
  /** No key source configured (no option, no SARAI_SIGNING_KEY, no SARAI_SIGNING_KEY_FILE). */
  'SIGNER_NO_KEY_SOURCE',
  /** Both SARAI_SIGNING_KEY and SARAI_SIGNING_KEY_FILE are set: refuse to guess. */
  'SIGNER_KEY_SOURCE_CONFLICT',
  /** The key file could not be read. */
  'SIGNER_KEY_FILE_UNREADABLE',
  /** The key text is not an armored OpenPGP key (or is corrupt). */
  'SIGNER_BAD_KEY',
  /** No key in the armored text matches the selector (fingerprint, key id or user id). */
  'SIGNER_KEY_NOT_FOUND',
  /** Several keys match the selector. */
  'SIGNER_KEY_AMBIGUOUS',
  /** The selected key is a public key: it cannot sign. */
  'SIGNER_PUBLIC_KEY_ONLY',
  /** The private key is encrypted and no passphrase was given. */
  'SIGNER_PASSPHRASE_REQUIRED',
  /** The passphrase does not decrypt the private key. */
  'SIGNER_BAD_PASSPHRASE',
  /** The selected key has expired. */
  'SIGNER_KEY_EXPIRED',
  /** The selected key has been revoked. */
  'SIGNER_KEY_REVOKED',
  /** The key has no usable signing (sub)key. */
  'SIGNER_NO_SIGNING_KEY',
  /** Invalid argument (not a string, empty user id, ...). */
  'SIGNER_INVALID_INPUT',
  /** OpenPGP signing failed for another reason. */
  'SIGNER_SIGN_FAILED',
  /** The prompt given to appendAudit has no (parseable) signature block. */
  'SIGNER_AUDIT_BAD_PROMPT',
  /** The audit log's last line is not a valid record: refusing to chain onto it. */
  'SIGNER_AUDIT_CORRUPT',
  /** Could not acquire the audit log lock in time. */
  'SIGNER_AUDIT_LOCK_TIMEOUT',
  /** Reading or writing the audit log failed. */
  'SIGNER_AUDIT_IO',
  /** Command line usage error (sarai-signer). */
  'SIGNER_USAGE',
  /** Refusing to overwrite existing key files (sarai-signer keygen without --force). */
  'SIGNER_FILE_EXISTS',
] as const;

export type SignerErrorCode = (typeof SIGNER_ERROR_CODES)[number];

export class SignerError extends Error {
  override readonly name = 'SignerError';
  readonly code: SignerErrorCode;

  constructor(code: SignerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

export function isSignerError(value: unknown, code?: SignerErrorCode): value is SignerError {
  return value instanceof SignerError && (code === undefined || value.code === code);
}

/** Best-effort message of an unknown thrown value (@sarai/formats' `errorMessage`, for this package's modules). */
export { errorMessage } from '@sarai/formats';
