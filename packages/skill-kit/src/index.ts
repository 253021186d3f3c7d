// Public API of @sarai/skill-kit: the skill generator (`npx nx g @sarai/skill-kit:skill <name> [--kind ...]`).
export { SkillKitError, type SkillKitErrorCode } from './errors.js';
export { skillGenerator, type SkillGeneratorOptions } from './generators/skill/generator.js';
export { skillNames, type SkillNames } from './generators/skill/names.js';
