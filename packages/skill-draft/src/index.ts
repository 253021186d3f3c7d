// Public API of @sarai/skill-draft: the draft LLM skill (engine, gRPC service, config) and the GGUF writer.
export { DraftError, type DraftErrorCode } from './errors.js';
export {
  DraftEngine,
  OPENMP_CMAKE_OPTIONS,
  defaultOpenmpModule,
  REQUEST_LIMITS,
  type EngineOptions,
  type FinishReason,
  type GenerateHooks,
  type GenerateParams,
  type GenerateResult,
} from './engine.js';
export {
  draftConfigSchema,
  loadDraftConfig,
  parseAdapters,
  type AdapterSpec,
  type DraftConfig,
} from './config.js';
export {
  engineOptionsOf,
  paramsOf,
  replyOf,
  startDraftService,
  toStatus,
  type DraftService,
  type DraftServiceOptions,
} from './service.js';
export { createDraftMetrics, type DraftMetrics } from './metrics.js';
export { checkGbnf } from './gbnf-check.js';
export { StopMatcher, TokenTextDecoder, commonPrefixLength } from './text.js';
export { availableCores } from './cpu.js';
export * from './gguf/index.js';
