export { TRAINER_ERROR_CODES, TrainerError, isTrainerError, type TrainerErrorCode } from './errors.js';
export {
  InteractionCheckSchema,
  InteractionIterationSchema,
  InteractionRecordSchema,
  MAX_LINE_CHARS,
  buildDataset,
  evalHash,
  isImproved,
  normaliseText,
  parseInteractionLog,
  readInteractionLog,
  type BuildDatasetOptions,
  type DatasetStats,
  type InteractionCheck,
  type InteractionIteration,
  type InteractionRecord,
  type LoraDataset,
  type MalformedLine,
  type ParsedInteractionLog,
  type TrainingExample,
} from './dataset.js';
export { chatmlGlue, renderExchange, type ChatGlue } from './chat.js';
export {
  DEFAULT_TARGETS,
  TRAINABLE_TARGETS,
  packRows,
  trainLora,
  type ChatPair,
  type LoraTarget,
  type TrainHyperParameters,
  type TrainLoraOptions,
  type TrainLoraResult,
  type TrainProgress,
} from './trainer.js';
export { encodeGguf, readGgufHeader, readGgufTensorF32, type GgufFile, type GgufTensorInfo } from './gguf.js';
export {
  ADAPTER_NAME_PATTERN,
  allocateAdapterPath,
  artifactsFor,
  dateStamp,
  sha256File,
  type RunArtifacts,
} from './files.js';
export { LLAMA_LIB_DIR_ENV, loadLlamaLibrary, locateLlamaLibDir, type LlamaLibrary } from './ffi/library.js';
export { type AbiReport } from './ffi/abi-check.js';
export { TRAINER_REDACT_PATHS, createTrainerLogger, type TrainerLoggerOptions } from './logger.js';
export {
  LoraManifestSchema,
  MANIFEST_SCHEMA_ID,
  TRAINER_VERSION,
  serializeManifest,
  verifyAdapterManifest,
  writeSignedManifest,
  type LoraManifest,
  type VerifiedManifest,
} from './manifest.js';
export {
  runTraining,
  type RunTrainingOptions,
  type RunTrainingResult,
  type TrainingSettings,
} from './run.js';
export { publishAdapter, type PublishAdapterOptions } from './publish.js';
export {
  NIGHTLY_EXIT_CODES,
  latestManifest,
  runNightly,
  type NightlyResult,
  type NightlyStatus,
  type RunNightlyOptions,
} from './nightly.js';
export { CLI_USAGE, runCli, type CliIo } from './cli.js';
