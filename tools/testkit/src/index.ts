export { TestkitError, type TestkitErrorCode } from './errors.js';
export { DEFAULT_HARDENING, resolveHardening, type Hardening, type HardeningOptions } from './hardening.js';
export { hardenedRunArgs } from './docker-run-args.js';
export {
  HardenedContainer,
  ensureDockerAvailable,
  hardenedContainer,
  inspectContainer,
  requireLocalImage,
  type ContainerInspect,
  type HardenedContainerOptions,
} from './container.js';
export {
  assertHardening,
  hardeningViolations,
  parseTmpfsOptions,
  type InspectSubject,
} from './inspect-checks.js';
export {
  CONTAINER_NODE,
  assertHardenedInside,
  execNode,
  insideViolations,
  probeHardening,
  type ExecNodeResult,
  type InsideView,
} from './inside-checks.js';
