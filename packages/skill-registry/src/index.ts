// Public API of @sarai/skill-registry: the declarative skill entries and what is derived from them.
export { RegistryError, type RegistryErrorCode } from './errors.js';
export {
  SKILL_NAME,
  breakerSchema,
  composeSchema,
  contractSchema,
  embeddedSchema,
  hardeningSchema,
  resourcesSchema,
  skillEntrySchema,
  type BreakerSettings,
  type SkillEntry,
  type SkillEntryInput,
  type SkillResources,
} from './schema.js';
export {
  SKILLS_FILE_ENV,
  createRegistry,
  loadRegistry,
  parseSkillEntry,
  registryDir,
  type LoadRegistryOptions,
  type SkillRegistry,
} from './load.js';
export { addressEnv, defaultAddress, envKey, nativeAddonDirs, serviceName } from './address.js';
export { COMPOSE_MARKER, renderComposeFile, renderComposeService } from './compose.js';
export {
  localComposeEnv,
  localComposeLayout,
  publishEnv,
  type LocalComposeLayout,
  type LocalComposeOptions,
} from './compose-env.js';
