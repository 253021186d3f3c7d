// The interaction-log record, the adapter manifest schema, adapter file naming and hashing are @sarai/formats'.
export { TRAINER_ERROR_CODES, TrainerError, isTrainerError, type TrainerErrorCode } from './errors.js';
export {
  MAX_LINE_CHARS,
  buildDataset,
  evalHash,
  isImproved,
  normaliseText,
  parseInteractionLog,
  readInteractionLog,
  type BuildDatasetOptions,
  type DatasetStats,
  type LoraDataset,
  type MalformedLine,
  type ParsedInteractionLog,
  type TrainingExample,
} from './dataset.js';
export { chatmlGlue, renderExchange, type ChatGlue } from './chat.js';
export { trainLora } from './trainer.js';
export { packRows } from './train/rows.js';
export {
  DEFAULT_TARGETS,
  TRAINABLE_TARGETS,
  type ChatPair,
  type LoraTarget,
  type TrainHyperParameters,
  type TrainLoraOptions,
  type TrainLoraResult,
  type TrainProgress,
} from './train/types.js';
export { encodeGguf, readGgufHeader, readGgufTensorF32, type GgufFile, type GgufTensorInfo } from './gguf.js';
export { allocateAdapterPath, sha256File } from './files.js';
export { LLAMA_LIB_DIR_ENV, loadLlamaLibrary, locateLlamaLibDir, type LlamaLibrary } from './ffi/library.js';
export { type AbiReport } from './ffi/abi-check.js';
export { TRAINER_REDACT_PATHS, createTrainerLogger, type TrainerLoggerOptions } from './logger.js';
export {
  TRAINER_VERSION,
  verifyAdapterManifest,
  writeSignedManifest,
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
