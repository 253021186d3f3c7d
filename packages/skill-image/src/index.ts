// Public API of @sarai/skill-image: the image pipeline (shared by the gRPC service and the host fallback), the
// service, its configuration and the perceptual keys/guard.
export { IMAGE_ERROR_STATUS, ImageError, grpcCodeOf, type ImageErrorCode } from './errors.js';
export {
  DEFAULT_QUALITY,
  ImagePipeline,
  type CacheOutcome,
  type CacheStats,
  type ImageRequest,
  type ImageResult,
  type PipelineObserver,
  type PipelineOptions,
} from './pipeline.js';
export { closeLocalPipelines, preprocessImageLocal } from './fallback.js';
export {
  DEFAULT_INPUT_FORMATS,
  EXTENSION,
  INPUT_FORMATS,
  OUTPUT_FORMATS,
  acceptInput,
  restrictDecoders,
  sniffFormat,
  type InputFormat,
  type OutputFormat,
} from './formats.js';
export {
  CROP_RANGE,
  DEFAULT_THRESHOLDS,
  KEYS_VERSION,
  MAX_GAIN,
  croppedKeys,
  distances,
  guardAccepts,
  hamming,
  keysFromThumbnail,
  matchVerdict,
  mirrorCloser,
  samePicture,
  type GuardDistances,
  type MatchThresholds,
  type MatchVerdict,
  type PerceptualKeys,
} from './features.js';
export { LAYOUT_VERSION } from './cache.js';
export { imageConfigSchema, pipelineOptionsFromConfig, type ImageSkillConfig } from './config.js';
export { createImageMetrics } from './metrics.js';
export {
  createImageSkill,
  imageSkill,
  imageSkillImplementation,
  startImageSkill,
  statsReply,
  type RunningImageSkill,
  type StartImageSkillOptions,
} from './service.js';
