import type { LoopErrorCode } from '@sarai/loop-core';
import type { TrainerErrorCode } from '@sarai/lora-trainer';
import { skillErrorOf, type ProtoErrorCode } from '@sarai/proto';
import type { SignerErrorCode } from '@sarai/signer';
import type { DraftErrorCode } from '@sarai/skill-draft';
import type { ImageErrorCode } from '@sarai/skill-image';
import type { RegistryErrorCode } from '@sarai/skill-registry';

/** Stable codes of {@link CliError}. */
export type CliErrorCode = 'CLI_USAGE' | 'CLI_CONFIG' | 'CLI_FAILED';

/** The one error class of the sarai CLI: printed as one line, never with a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: CliErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const usageError = (message: string) => new CliError('CLI_USAGE', message);

/**
 * What kind of failure a code is, which decides the exit status:
 * `usage`/`config`/`input` = the user must change something (2); `unavailable` = a skill or resource is not there
 * or busy, retry later (1); `cancelled` = aborted by the user (130); `failed` = the operation failed (1).
 */
export type ErrorKind = 'usage' | 'config' | 'input' | 'unavailable' | 'cancelled' | 'failed';

export const EXIT_CODE: Readonly<Record<ErrorKind, number>> = {
  usage: 2,
  config: 2,
  input: 2,
  unavailable: 1,
  cancelled: 130,
  failed: 1,
};

/** Codes of @sarai/formats and @sarai/skill-runtime (reached through other packages or over the wire). */
type FormatsCode = 'FORMATS_GGUF_INVALID' | 'FORMATS_IO' | 'FORMATS_INVALID_ARGUMENT';
type RuntimeCode = 'RUNTIME_BAD_CONFIG' | 'RUNTIME_START_FAILED' | 'RUNTIME_BUSY' | 'RUNTIME_CANCELLED';
type SandboxCode = 'SANDBOX_BAD_REQUEST' | 'SANDBOX_RUNNER_FAILED' | 'SANDBOX_BAD_CONFIG';

/** Every known code → its kind. Typed per package: a new code in any of them fails the build until it is mapped. */
export const ERROR_KINDS: Readonly<
  Record<
    | CliErrorCode
    | LoopErrorCode
    | TrainerErrorCode
    | SignerErrorCode
    | DraftErrorCode
    | ImageErrorCode
    | ProtoErrorCode
    | RegistryErrorCode
    | FormatsCode
    | RuntimeCode
    | SandboxCode,
    ErrorKind
  >
> = {
  CLI_USAGE: 'usage',
  CLI_CONFIG: 'config',
  CLI_FAILED: 'failed',

  LOOP_BAD_OPTION: 'usage',
  LOOP_BAD_INPUT: 'input',
  LOOP_UNKNOWN_SKILL: 'config',
  LOOP_SKILL_UNAVAILABLE: 'unavailable',
  LOOP_SKILL_REJECTED: 'failed',
  LOOP_SIGNING_FAILED: 'failed',
  LOOP_CANCELLED: 'cancelled',

  TRAINER_INVALID_OPTIONS: 'usage',
  TRAINER_UNSUPPORTED_PLATFORM: 'config',
  TRAINER_LIBRARY_NOT_FOUND: 'config',
  TRAINER_FFI_LOAD_FAILED: 'config',
  TRAINER_ABI_MISMATCH: 'failed',
  TRAINER_INTERNAL_LAYOUT: 'failed',
  TRAINER_MODEL_LOAD_FAILED: 'input',
  TRAINER_CONTEXT_FAILED: 'failed',
  TRAINER_TARGET_NOT_FOUND: 'input',
  TRAINER_ADAPTER_LOAD_FAILED: 'failed',
  TRAINER_TOKENIZE_FAILED: 'input',
  TRAINER_EMPTY_DATASET: 'input',
  TRAINER_DECODE_FAILED: 'failed',
  TRAINER_TRAINING_FAILED: 'failed',
  TRAINER_ABORTED: 'cancelled',
  TRAINER_GGUF_INVALID: 'input',
  TRAINER_LOG_UNREADABLE: 'input',
  TRAINER_IO: 'failed',
  TRAINER_SIGNING_FAILED: 'failed',
  TRAINER_MANIFEST_INVALID: 'input',
  TRAINER_PUBLISH_CONFLICT: 'failed',
  TRAINER_LOCKED: 'unavailable',

  SIGNER_NO_KEY_SOURCE: 'config',
  SIGNER_KEY_SOURCE_CONFLICT: 'config',
  SIGNER_KEY_FILE_UNREADABLE: 'config',
  SIGNER_BAD_KEY: 'config',
  SIGNER_KEY_NOT_FOUND: 'config',
  SIGNER_KEY_AMBIGUOUS: 'config',
  SIGNER_PUBLIC_KEY_ONLY: 'config',
  SIGNER_PASSPHRASE_REQUIRED: 'config',
  SIGNER_BAD_PASSPHRASE: 'config',
  SIGNER_KEY_EXPIRED: 'config',
  SIGNER_KEY_REVOKED: 'config',
  SIGNER_NO_SIGNING_KEY: 'config',
  SIGNER_INVALID_INPUT: 'input',
  SIGNER_SIGN_FAILED: 'failed',
  SIGNER_AUDIT_BAD_PROMPT: 'input',
  SIGNER_AUDIT_CORRUPT: 'failed',
  SIGNER_AUDIT_LOCK_TIMEOUT: 'unavailable',
  SIGNER_AUDIT_IO: 'failed',
  SIGNER_USAGE: 'usage',
  SIGNER_FILE_EXISTS: 'input',

  DRAFT_BAD_CONFIG: 'config',
  DRAFT_BAD_REQUEST: 'input',
  DRAFT_BAD_GRAMMAR: 'input',
  DRAFT_PROMPT_TOO_LONG: 'input',
  DRAFT_QUEUE_FULL: 'unavailable',
  DRAFT_UNKNOWN_ADAPTER: 'input',
  DRAFT_ADAPTER_REJECTED: 'input',
  DRAFT_NOT_READY: 'unavailable',
  DRAFT_MODEL_LOAD_FAILED: 'config',
  DRAFT_GGUF_INVALID: 'input',

  IMAGE_BAD_REQUEST: 'input',
  IMAGE_EMPTY: 'input',
  IMAGE_UNSUPPORTED_FORMAT: 'input',
  IMAGE_CORRUPT: 'input',
  IMAGE_TOO_LARGE: 'input',
  IMAGE_TIMEOUT: 'failed',
  IMAGE_BUSY: 'unavailable',
  IMAGE_CACHE_IO: 'failed',
  IMAGE_BAD_CONFIG: 'config',
  IMAGE_CLOSED: 'unavailable',

  PROTO_BAD_OPTION: 'usage',
  PROTO_BAD_ADDRESS: 'usage',

  REGISTRY_BAD_ENTRY: 'config',
  REGISTRY_BAD_FILE: 'config',
  REGISTRY_DUPLICATE: 'config',
  REGISTRY_UNKNOWN_SKILL: 'config',
  REGISTRY_BAD_TEMPLATE: 'config',
  REGISTRY_BAD_COMPOSE_ENV: 'config',

  FORMATS_GGUF_INVALID: 'input',
  FORMATS_IO: 'failed',
  FORMATS_INVALID_ARGUMENT: 'input',

  RUNTIME_BAD_CONFIG: 'config',
  RUNTIME_START_FAILED: 'failed',
  RUNTIME_BUSY: 'unavailable',
  RUNTIME_CANCELLED: 'cancelled',

  SANDBOX_BAD_REQUEST: 'input',
  SANDBOX_RUNNER_FAILED: 'unavailable',
  SANDBOX_BAD_CONFIG: 'config',
};

const CODE_SHAPE = /^[A-Z][A-Z0-9]*_[A-Z0-9_]+$/;

/** A code no table knows (a newer skill's): judged by its suffix. */
function kindBySuffix(code: string): ErrorKind {
  if (/_(BAD_OPTION|USAGE|INVALID_OPTIONS)$/.test(code)) return 'usage';
  if (/_BAD_CONFIG$/.test(code)) return 'config';
  if (
    /_(BAD_REQUEST|BAD_INPUT|INVALID.*|TOO_LARGE|TOO_LONG|UNSUPPORTED.*|NOT_FOUND|CORRUPT|EMPTY)$/.test(code)
  )
    return 'input';
  if (/_(BUSY|QUEUE_FULL|NOT_READY|UNAVAILABLE|CLOSED|LOCKED)$/.test(code)) return 'unavailable';
  if (/_(CANCELLED|ABORTED)$/.test(code)) return 'cancelled';
  return 'failed';
}

/** How the CLI reports a failure: the one line it prints and the exit status. */
export interface ErrorReport {
  line: string;
  exitCode: number;
  /** The error's stable code (undefined: not a known SARAi error; the line then carries its stack). */
  code: string | undefined;
}

/**
 * The CLI's single error printer. A SARAi error (any package's code, or a skill's code that came back over gRPC as
 * `"<CODE>: <message>"`) prints `sarai: <message> [<CODE>]` and exits with its kind's status; anything else is
 * unexpected and prints its stack.
 */
export function reportError(e: unknown): ErrorReport {
  if (e instanceof CliError) {
    const usage = e.code === 'CLI_USAGE' ? '\nrun "sarai help" for usage' : '';
    return { line: `sarai: ${e.message}${usage}`, exitCode: EXIT_CODE[ERROR_KINDS[e.code]], code: e.code };
  }
  const wire = skillErrorOf(e);
  if (wire) {
    const kind = (ERROR_KINDS as Record<string, ErrorKind>)[wire.code] ?? kindBySuffix(wire.code);
    return {
      line: `sarai: skill error: ${wire.message} [${wire.code}, ${wire.status}]`,
      exitCode: EXIT_CODE[kind],
      code: wire.code,
    };
  }
  const err = e as { code?: unknown; message?: unknown } | null | undefined;
  if (err && typeof err.code === 'string' && CODE_SHAPE.test(err.code)) {
    const kind = (ERROR_KINDS as Record<string, ErrorKind>)[err.code] ?? kindBySuffix(err.code);
    return {
      line: `sarai: ${String(err.message).split('\n')[0]} [${err.code}]`,
      exitCode: EXIT_CODE[kind],
      code: err.code,
    };
  }
  return {
    line: `sarai: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    exitCode: 1,
    code: undefined,
  };
}
