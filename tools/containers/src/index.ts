export { ContainersError, type ContainersErrorCode } from './errors.mjs';
export {
  BASE_IMAGE_CHANGES,
  BASE_INPUTS_LABEL,
  DEFAULT_BASE_IMAGE,
  NATIVE_ADDON_DIRS,
  NODE_DIST,
  NODE_PATH_IN_IMAGE,
  SARAI_GID,
  SARAI_UID,
  assembleRootfs,
  baseImageInputs,
  baseImageName,
  defaultCacheDir,
  defaultWorkspaceRoot,
  ensureBaseImage,
  fetchNodeBinary,
  nativeAddonFiles,
  systemLibraries,
} from './base-image.mjs';
export {
  EXCLUDED_FILES,
  EXCLUDED_PACKAGES,
  TARGET_PLATFORM,
  planContext,
  resolveDependency,
  resolveWorkspacePackage,
  stageContext,
  type ContextPlan,
  type ExcludedPackage,
  type ImageConfig,
  type StagedPackage,
} from './stage-context.mjs';
export { buildImage, checkDockerfile, latestAlias } from './build-image.mjs';
export { inspectImage, requireDocker, run } from './exec.mjs';
export {
  PROMETHEUS_CMD,
  PROMETHEUS_IMAGE_REPO,
  PROMETHEUS_PACKAGES,
  PROMETHEUS_PATHS,
  assemblePrometheusRootfs,
  buildPrometheusImage,
  linkedLibraries,
} from './prometheus-image.mjs';
