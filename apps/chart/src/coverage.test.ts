import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CHART_DIR } from './helm.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as {
  skills: Record<string, { image: { repository: string } }>;
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
  const registry = join(root, 'packages', 'skill-registry', 'skills');
  if (existsSync(registry))
    for (const f of readdirSync(registry).filter((x) => x.endsWith('.json'))) {
      const entry = JSON.parse(readFileSync(join(registry, f), 'utf8')) as { name: string; image?: string };
      if (entry.image) out.set(entry.name, entry.image.replace(/:[^/]*$/, ''));
    }
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
});
