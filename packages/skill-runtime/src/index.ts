// Public API of @sarai/skill-runtime: what every skill service shares.
export { SkillRuntimeError, type SkillRuntimeErrorCode } from './errors.js';
export {
  RUNTIME_ERROR_STATUS,
  errorCodeOf,
  isGrpcStatus,
  skillFailure,
  toGrpcStatus,
  type ErrorStatusTable,
  type GrpcStatusName,
} from './error-model.js';
export {
  Admission,
  type AdmissionLimits,
  type AdmissionOptions,
  type AdmissionState,
  type Release,
  type Ticket,
} from './admission.js';
export { createLogger, PROMPT_PATHS, SECRET_PATHS, type LoggerOptions } from './logger.js';
export { commonConfigSchema, parseEnvConfig, type CommonConfig } from './config.js';
export { createSkillMetrics, serveMetrics, type SkillMetrics } from './metrics.js';
export { rssMb } from './process.js';
export { socketPathOf } from './unix-address.js';
export { serviceNameOf, skillService, type SkillService } from './services.js';
export { SKILL_SERVICE, startSkillServer, type RunningSkill, type SkillServerOptions } from './server.js';
export { handleSignals, runMain } from './main.js';
export {
  defineSkill,
  runSkill,
  startSkill,
  type SkillContext,
  type SkillDefinition,
  type SkillHandle,
  type StartSkillOptions,
} from './define.js';
