// Public API of @sarai/registries: private registries for SARAi artefacts and the CI affected selection.
export { RegistriesError, type RegistriesErrorCode } from './errors.js';
export { run, type RunOptions } from './exec.js';
export { freePort, waitForHttp } from './net.js';
export {
  WORKSPACE_CONDITIONS,
  publishManifest,
  workspaceConditionLeaks,
  type PackageManifest,
} from './publish-manifest.js';
export { publishDir, stagePackage, type StagedPackage } from './stage-package.js';
export {
  startVerdaccio,
  verdaccioBin,
  verdaccioConfig,
  type NpmRegistry,
  type VerdaccioOptions,
} from './verdaccio.js';
export {
  DOCKER_REGISTRY_BIN,
  imageRef,
  pushImage,
  registryConfig,
  splitRef,
  startImageRegistry,
  type ImageRegistry,
} from './image-registry.js';
export {
  WORKSPACE_ROOT,
  affectedProjects,
  projectDependencies,
  projectsWithTarget,
  withConsumers,
  type AffectedOptions,
} from './affected.js';
