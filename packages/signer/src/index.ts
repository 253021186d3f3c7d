export { SIGNER_ERROR_CODES, SignerError, isSignerError, type SignerErrorCode } from './signer-error.js';
export {
  SIGNATURE_MARKER,
  SIGNATURE_SEPARATOR,
  formatSignedPrompt,
  splitSignedPrompt,
  type SignedPromptParts,
} from './envelope.js';
export {
  DEFAULT_KEY_SELECTOR,
  SIGNER_ENV,
  assertCanSign,
  generateSigningKeyPair,
  keyMatches,
  loadSigningKey,
  readArmoredKeys,
  selectKey,
  unlockPrivateKey,
  type EnvLike,
  type GenerateSigningKeyOptions,
  type GeneratedKeyPair,
  type LoadSigningKeyOptions,
} from './keys.js';
export { MAX_SIGN_BYTES, PromptSigner, type PromptSignerOptions, type SignOptions } from './prompt-signer.js';
export {
  VERIFY_REASONS,
  loadTrustedKeys,
  verifyPrompt,
  type TrustedKeyInput,
  type TrustedKeys,
  type VerifyPromptOptions,
  type VerifyReason,
  type VerifyResult,
} from './verify.js';
export {
  AUDIT_GENESIS_HASH,
  AUDIT_RECORD_VERSION,
  appendAudit,
  auditRecordHash,
  canonicalAuditBody,
  serializeAuditRecord,
  verifyAuditLog,
  type AppendAuditOptions,
  type AuditProblem,
  type AuditProblemKind,
  type AuditRecord,
  type AuditRecordBody,
  type AuditVerifyReport,
  type VerifyAuditOptions,
} from './audit-log.js';
export { repairAuditLog, type AuditRepairReport, type RepairAuditOptions } from './audit-repair.js';
export { withFileLock, type FileLockOptions, type HeldLock } from './file-lock.js';
export { SIGNER_REDACT_PATHS, createSignerLogger, type SignerLoggerOptions } from './logger.js';
export { CLI_USAGE, runCli, type CliIo } from './cli-run.js';
