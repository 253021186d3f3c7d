import type { SkillEntry } from './schema.js';

const upper = (name: string) => name.toUpperCase().replace(/-/g, '_');

/** Environment variable that overrides a skill's address: `SARAI_SKILL_<NAME>_ADDR`. */
export function addressEnv(name: string): string {
  return `SARAI_SKILL_${upper(name)}_ADDR`;
}

/** Compose service name of a skill: `skill-<name>`. */
export function serviceName(name: string): string {
  return `skill-${name}`;
}

/** Where a skill is reached by default: its entry's `address`, else the compose service `skill-<name>:<port>`. */
export function defaultAddress(entry: SkillEntry): string {
  return entry.address ?? `${serviceName(entry.name)}:${entry.port}`;
}

/** Native-addon directories (node_modules-relative) every registered skill needs, sorted and unique. */
export function nativeAddonDirs(skills: readonly SkillEntry[]): string[] {
  return [...new Set(skills.flatMap((s) => s.nativeAddons))].sort();
}

export const envKey = upper;
