// Public API of @sarai/loop-core: the Omni-Loop over gRPC skills.
export { LoopError, type LoopErrorCode } from './errors.js';
export {
  SkillHandle,
  SkillPool,
  isSkillFailure,
  type BreakerOptions,
  type BreakerState,
  type SkillAction,
  type SkillEndpoint,
  type SkillHealthState,
  type SkillPoolOptions,
} from './skill-pool.js';
export {
  SkillReplicaSet,
  isReplicatedAddress,
  type ReplicaSetOptions,
  type ReplicaState,
} from './replica-set.js';
export {
  codeTestsChecker,
  extractCode,
  extractJson,
  functionChecker,
  jsonSchemaChecker,
  regexChecker,
  runCheckers,
  type CheckContext,
  type CheckOutcome,
  type CheckResult,
  type CodeTest,
  type Checker,
} from './checkers.js';
export { CODE_TESTS_ROLE, poolSandbox, type CodeSandbox } from './code-sandbox.js';
export { UNKNOWN_MODEL_CONFIDENCE, scoreConfidence } from './confidence.js';
export { draftPrompt, reflectionPrompt, type ImageInfo } from './prompts.js';
export {
  OmniLoop,
  type DraftOptions,
  type DraftResult,
  type LocalDraftModel,
  type LocalImagePipeline,
  type LoopIteration,
  type LoopResult,
  type OmniLoopOptions,
  type RunOptions,
} from './omni-loop.js';
export {
  appendInteraction,
  createReflectionSigner,
  verifyLoopAudit,
  type ReflectionSigner,
} from './audit.js';
/** The interaction-log record is @sarai/formats' (one schema for this writer and the trainer's reader). */
export type { InteractionRecord } from '@sarai/formats';
