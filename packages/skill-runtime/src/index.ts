// Public API of @sarai/skill-runtime: what every skill service shares.
export { SkillRuntimeError, type SkillRuntimeErrorCode } from './errors.js';
export { createLogger, PROMPT_PATHS, SECRET_PATHS, type LoggerOptions } from './logger.js';
export { commonConfigSchema, parseEnvConfig, type CommonConfig } from './config.js';
export { createSkillMetrics, serveMetrics, type SkillMetrics } from './metrics.js';
export { rssMb } from './process.js';
export { SKILL_SERVICE, startSkillServer, type RunningSkill, type SkillServerOptions } from './server.js';
export { handleSignals, runMain } from './main.js';
