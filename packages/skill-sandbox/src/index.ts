export { SandboxError, type SandboxErrorCode } from './errors.js';
export { sandboxConfigSchema, type SandboxConfig } from './config.js';
export { sandboxSkill } from './skill.js';
export { fromWire, toWire } from './wire.js';
export { DEFAULT_LIMITS, MAX_LIMITS, REQUEST_BOUNDS, resolveLimits } from './runner/limits.js';
export { runTests, type RunnerOptions } from './runner/run-tests.js';
export { probeNetIsolation, type NetIsolation } from './runner/netns.js';
export type {
  ResolvedLimits,
  SandboxLanguage,
  SandboxLimits,
  SandboxRequest,
  SandboxResult,
  SandboxTest,
  SandboxTestResult,
  StopReason,
} from './runner/types.js';
