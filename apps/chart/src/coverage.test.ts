import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CHART_DIR } from './helm.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
interface SkillValues {
  image: { repository: string };
  healthService?: string;
  isolated?: boolean;
  resources: { limits: { cpu: string; memory: string } };
}
const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as {
  skills: Record<string, SkillValues>;
};

interface RegistryEntry {
  name: string;
  image?: string;
  healthService?: string;
  resources?: { cpus?: number; memory?: string };
  hardening?: { network?: string };
}
const registryDir = join(root, 'packages', 'skill-registry', 'skills');
const registryEntries = (): RegistryEntry[] =>
  existsSync(registryDir)
    ? readdirSync(registryDir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(registryDir, f), 'utf8')) as RegistryEntry)
    : [];

/** Docker sizes ("800m", "2g") in MiB; Kubernetes quantities ("800Mi", "2Gi", "512M") in MiB. */
const dockerMiB = (s: string) =>
  Number(s.slice(0, -1)) * { k: 1 / 1024, m: 1, g: 1024 }[s.slice(-1) as 'k' | 'm' | 'g'];
const k8sMiB = (s: string) => {
  const m = /^(\d+)(Ki|Mi|Gi)$/.exec(s);
  if (!m) throw new Error(`unexpected memory quantity ${s}`);
  return Number(m[1]) * { Ki: 1 / 1024, Mi: 1, Gi: 1024 }[m[2] as 'Ki' | 'Mi' | 'Gi'];
};

interface Manifest {
  name: string;
  nx?: { tags?: string[]; targets?: Record<string, unknown> };
}

/** Skills that ship an image: packages tagged type:skill with an `image` target, plus skill-registry entries. */
function shippedSkills(): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of readdirSync(join(root, 'packages'))) {
    const file = join(root, 'packages', dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
    if (pkg.nx?.tags?.includes('type:skill') && pkg.nx.targets?.['image'] && dir.startsWith('skill-'))
      out.set(dir.slice('skill-'.length), `sarai/${dir}`);
  }
  for (const entry of registryEntries())
    if (entry.image) out.set(entry.name, entry.image.replace(/:[^/]*$/, ''));
  return out;
}

describe('chart values cover every skill', () => {
  it('has a Deployment entry, with the right image repository, for each skill that ships an image', () => {
    const skills = shippedSkills();
    expect(skills.size).toBeGreaterThan(0);
    for (const [name, repository] of skills) {
      expect(values.skills, `skills.${name} is missing from apps/chart/sarai/values.yaml`).toHaveProperty([
        name,
      ]);
      expect(values.skills[name]?.image.repository).toBe(repository);
    }
  });

  it('follows the skill registry: limits, readiness service, isolation of network-less skills', () => {
    for (const entry of registryEntries()) {
      const v = values.skills[entry.name];
      if (!v || !entry.image) continue;
      if (entry.resources?.cpus !== undefined)
        expect(Number(v.resources.limits.cpu), `skills.${entry.name}.resources.limits.cpu`).toBe(
          entry.resources.cpus,
        );
      if (entry.resources?.memory)
        expect(k8sMiB(v.resources.limits.memory), `skills.${entry.name}.resources.limits.memory`).toBe(
          dockerMiB(entry.resources.memory),
        );
      if (entry.healthService)
        expect(v.healthService, `skills.${entry.name}.healthService`).toBe(entry.healthService);
      expect(v.isolated === true, `skills.${entry.name}.isolated`).toBe(entry.hardening?.network === 'none');
    }
  });
});
