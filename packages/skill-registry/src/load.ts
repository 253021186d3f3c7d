import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegistryError } from './errors.js';
import { skillEntrySchema, type SkillEntry } from './schema.js';

/** Environment variable naming a user file that adds skills or overrides fields of registered ones. */
export const SKILLS_FILE_ENV = 'SARAI_SKILLS_FILE';

/** The folder of the built-in entries (`skills/` of this package, shipped in the npm package). */
export function registryDir(): string {
  return fileURLToPath(new URL('../skills/', import.meta.url));
}

/** The skills SARAi knows about, by name, in name order. */
export interface SkillRegistry {
  readonly skills: readonly SkillEntry[];
  /** The entry of `name`; throws REGISTRY_UNKNOWN_SKILL listing the known names. */
  get(name: string): SkillEntry;
  find(name: string): SkillEntry | undefined;
  /** The first skill (in name order) that declares `role`. */
  byRole(role: string): SkillEntry | undefined;
  names(): string[];
}

export interface LoadRegistryOptions {
  /** Folder of `<name>.json` entries (default {@link registryDir}). */
  dir?: string;
  /** User file merged on top (default `$SARAI_SKILLS_FILE`); `false` ignores it. */
  userFile?: string | false;
  env?: NodeJS.ProcessEnv;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k], v) : v;
  return out;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new RegistryError('REGISTRY_BAD_FILE', `${file}: ${(e as Error).message} (expected a JSON file)`, {
      cause: e,
    });
  }
}

/** Validates one raw entry; the message names the file and every wrong field. */
export function parseSkillEntry(raw: unknown, source: string): SkillEntry {
  const r = skillEntrySchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(entry)'}: ${i.message}`);
    throw new RegistryError('REGISTRY_BAD_ENTRY', `${source}: ${problems.join('; ')}`);
  }
  return r.data;
}

/** Builds a registry from validated entries (names must be unique). */
export function createRegistry(entries: readonly SkillEntry[]): SkillRegistry {
  const byName = new Map<string, SkillEntry>();
  for (const e of entries) {
    if (byName.has(e.name))
      throw new RegistryError('REGISTRY_DUPLICATE', `skill "${e.name}" is registered twice`);
    byName.set(e.name, e);
  }
  const skills = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  return {
    skills,
    find: (name) => byName.get(name),
    get(name) {
      const e = byName.get(name);
      if (!e) {
        throw new RegistryError(
          'REGISTRY_UNKNOWN_SKILL',
          `no skill "${name}" in the registry (known: ${skills.map((s) => s.name).join(', ') || 'none'}); add it to packages/skill-registry/skills/ or to the file in ${SKILLS_FILE_ENV}`,
        );
      }
      return e;
    },
    byRole: (role) => skills.find((s) => s.roles.includes(role)),
    names: () => skills.map((s) => s.name),
  };
}

/** Raw entries of a user file: `[entry, ...]` or `{ "skills": [entry, ...] }`; entries may be partial overrides. */
function userEntries(file: string): Json[] {
  const data = readJson(file);
  const list = Array.isArray(data) ? data : isObject(data) ? data['skills'] : undefined;
  if (!Array.isArray(list) || !list.every((e) => isObject(e) && typeof e['name'] === 'string')) {
    throw new RegistryError(
      'REGISTRY_BAD_FILE',
      `${file}: expected [{ "name": "...", ... }] or { "skills": [...] } (each entry needs a "name")`,
    );
  }
  return list as Json[];
}

/**
 * Reads every `<name>.json` of the registry folder, then merges the user file (`SARAI_SKILLS_FILE`): an entry with a
 * known name overrides those fields (e.g. `{ "name": "draft", "address": "gpu-box:50051", "deadlineMs": 20000 }`),
 * a new name adds a skill (it needs at least `name`, `kind`, `contract` and an `address`).
 */
export function loadRegistry(opts: LoadRegistryOptions = {}): SkillRegistry {
  const dir = opts.dir ?? registryDir();
  const raw = new Map<string, { entry: Json; source: string }>();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const f of files) {
    const file = join(dir, f);
    const entry = readJson(file);
    if (!isObject(entry) || entry['name'] !== basename(f, '.json')) {
      throw new RegistryError(
        'REGISTRY_BAD_ENTRY',
        `${file}: "name" must equal the file name ("${basename(f, '.json')}")`,
      );
    }
    raw.set(entry['name'] as string, { entry, source: file });
  }
  const env = opts.env ?? process.env;
  const userFile =
    opts.userFile === false ? undefined : (opts.userFile ?? (env[SKILLS_FILE_ENV] || undefined));
  if (userFile) {
    if (!existsSync(userFile))
      throw new RegistryError('REGISTRY_BAD_FILE', `${SKILLS_FILE_ENV}=${userFile}: no such file`);
    for (const over of userEntries(userFile)) {
      const name = over['name'] as string;
      const known = raw.get(name);
      raw.set(
        name,
        known
          ? { entry: merge(known.entry, over), source: `${known.source} + ${userFile}` }
          : { entry: over, source: userFile },
      );
    }
  }
  return createRegistry([...raw.values()].map(({ entry, source }) => parseSkillEntry(entry, source)));
}
