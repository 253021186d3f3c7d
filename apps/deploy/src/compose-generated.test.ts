// The committed compose file is exactly what the registry and the template generate (no hand edits drift).
import { COMPOSE_MARKER, loadRegistry, renderComposeFile } from '@sarai/skill-registry';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (rel: string) => readFileSync(new URL(rel, import.meta.url), 'utf8');

describe('docker-compose.yml', () => {
  it('equals the file generated from compose.template.yml and the skill registry (`nx run @sarai/deploy:compose`)', () => {
    const registry = loadRegistry({ userFile: false });
    const generated = renderComposeFile(read('../compose.template.yml'), registry.skills);
    expect(
      read('../docker-compose.yml'),
      'run `npx nx run @sarai/deploy:compose` and commit the result',
    ).toBe(generated);
  });

  it('has one hardened service per registered skill with an image', () => {
    const compose = read('../docker-compose.yml');
    expect(read('../compose.template.yml')).toContain(COMPOSE_MARKER);
    for (const s of loadRegistry({ userFile: false }).skills.filter((e) => e.image)) {
      expect(compose).toMatch(new RegExp(`^  skill-${s.name}:\\n    <<: \\*hardening$`, 'm'));
    }
  });
});
