// Public API of @sarai/skill-draft: the draft LLM skill (engine, gRPC service, config) and the GGUF writer.
export { DRAFT_ERROR_STATUS, DraftError, type DraftErrorCode } from './errors.js';
export {
  DraftEngine,
  OPENMP_VARIANTS,
  chooseOpenmpVariant,
  defaultOpenmpModule,
  REQUEST_LIMITS,
  type AdapterSwap,
  type EngineOptions,
  type EngineStats,
  type FinishReason,
  type GenerateHooks,
  type GenerateParams,
  type GenerateResult,
  type OpenmpChoice,
  type OpenmpVariant,
} from './engine.js';
export {
  draftConfigSchema,
  loadDraftConfig,
  parseAdapters,
  type AdapterSpec,
  type DraftConfig,
} from './config.js';
export {
  createDraftSkill,
  draftSkill,
  engineOptionsOf,
  paramsOf,
  replyOf,
  startDraftService,
  toStatus,
  type DraftService,
  type DraftServiceOptions,
} from './service.js';
export { createDraftMetrics, type DraftMetrics, type DraftMetricsState } from './metrics.js';
export {
  ADAPTER_REJECT_REASONS,
  checkAdapterGguf,
  verifyAdapter,
  type AdapterRejectReason,
  type AdapterVerdict,
  type BaseModelIdentity,
  type VerifiedAdapter,
} from './adapter-verify.js';
export {
  AdapterDirectory,
  engineAdaptersView,
  type AdapterDirectoryOptions,
  type AdapterInfoView,
  type AdaptersView,
  type RejectedAdapterView,
} from './adapter-directory.js';
export { checkGbnf } from './gbnf-check.js';
export { StopMatcher, TokenTextDecoder, commonPrefixLength } from './text.js';
export { availableCores } from './cpu.js';
export * from './gguf/index.js';
