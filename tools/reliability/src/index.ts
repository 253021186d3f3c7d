// Public API of @sarai/reliability: crash-consistency, fuzz, hostile-input, chaos and soak harnesses (issue 15).
export { CrashCheckError, type ReliabilityErrorCode } from './crash/errors.js';
export { runCrashPoints, type CrashReport, type CrashRunOptions } from './crash/harness.js';
export { CRASH_WRITERS, loadWriter } from './crash/writers.js';
export type { CheckNotes, CrashWriter, Setup, WriterHistory } from './crash/protocol.js';
export { fuzzAll, type FuzzAllOptions } from './fuzz/fuzz.js';
export { runFuzz, FORBIDDEN, type FuzzReport } from './fuzz/runner.js';
export {
  draftMethods,
  healthMethods,
  imageMethods,
  sandboxMethods,
  rawCall,
  type FuzzMethod,
  type Outcome,
} from './fuzz/targets.js';
export { Values } from './fuzz/values.js';
export { rssMbOf, skillMain, startSkillProcess, type SkillProcess } from './skill-process.js';
export {
  composeSoakTable,
  hoursToLimit,
  slopeWithinNoise,
  soakCompose,
  type ComposeSoakReport,
  type ComposeSoakServiceReport,
} from './compose/soak-compose.js';
export {
  SOAK_SERVICES,
  upCompose,
  type ComposeDeployment,
  type ContainerState,
} from './compose/deployment.js';
export { containerMemory, type ContainerMemory } from './compose/memory.js';
export { hostileAll, CONTAINER_ENV, type HostileReport } from './hostile/hostile.js';
export { percentile, slope, slopeStdErr } from './soak/stats.js';
