// The generator on a virtual tree (no disk writes): files, registry entry, contract code, compose service.
import type { Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { parseSkillEntry, registryDir } from '@sarai/skill-registry';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { SkillKitError } from '../../errors.js';
import { skillGenerator } from './generator.js';
import { CHART_VALUES } from './chart.js';
import { COMPOSE_FILE, COMPOSE_TEMPLATE, REGISTRY_DIR } from './registry.js';

const workspace = fileURLToPath(new URL('../../../../../', import.meta.url));

function seed(tree: Tree): void {
  for (const f of readdirSync(registryDir()))
    tree.write(`${REGISTRY_DIR}/${f}`, readFileSync(join(registryDir(), f)));
  tree.write(COMPOSE_TEMPLATE, readFileSync(join(workspace, COMPOSE_TEMPLATE)));
  tree.write('tsconfig.json', JSON.stringify({ files: [], references: [{ path: './packages/proto' }] }));
  tree.write(CHART_VALUES, readFileSync(join(workspace, CHART_VALUES)));
}

const json = (tree: Tree, path: string) =>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- nested package.json fields in assertions
  JSON.parse(tree.read(path, 'utf-8') as string) as Record<string, any>;

describe('nx g @sarai/skill-kit:skill', () => {
  let tree: Tree;
  beforeEach(() => {
    tree = createTreeWithEmptyWorkspace();
    seed(tree);
  });

  it('kind generate: a skills.Skill skill package, its registry entry and compose service, no contract package', async () => {
    await skillGenerator(tree, { name: 'word-count', skipFormat: true });
    const root = 'packages/skill-word-count';
    for (const f of [
      'Dockerfile',
      'README.md',
      'src/skill.ts',
      'src/main.ts',
      'src/service.test.ts',
      'src/container.test.ts',
    ]) {
      expect(tree.exists(`${root}/${f}`), f).toBe(true);
    }
    expect(tree.exists('packages/word-count-contract')).toBe(false);
    const pkg = json(tree, `${root}/package.json`);
    expect(pkg['name']).toBe('@sarai/skill-word-count');
    expect(pkg['nx'].tags).toEqual(['type:skill']);
    expect(pkg['nx'].targets.test.dependsOn).toContain('image');
    expect(tree.read(`${root}/src/skill.ts`, 'utf-8')).toContain('skillService<ISkill>(skillDefinition');
    expect(tree.read(`${root}/src/errors.ts`, 'utf-8')).toContain("'WORD_COUNT_BAD_REQUEST'");
    expect(tree.read(`${root}/Dockerfile`, 'utf-8')).toMatch(/^FROM \$\{BASE_IMAGE\}$/m);

    const entry = parseSkillEntry(json(tree, `${REGISTRY_DIR}/word-count.json`), 'entry');
    expect(entry).toMatchObject({
      kind: 'generate',
      package: '@sarai/skill-word-count',
      image: 'sarai/skill-word-count',
    });
    expect(entry.contract).toEqual({ package: '@sarai/proto', service: 'skills.Skill' });
    expect(entry.compose.publish).toBe('127.0.0.1:50054'); // after draft (50052) and image (50053)
    const compose = tree.read(COMPOSE_FILE, 'utf-8') as string;
    expect(compose).toContain('  skill-word-count:\n    <<: *hardening\n');
    expect(compose).toContain('  skill-draft:\n');
    expect(json(tree, 'tsconfig.json')['references']).toContainEqual({ path: './packages/skill-word-count' });
    const values = tree.read(CHART_VALUES, 'utf-8') as string;
    expect(values).toMatch(
      /^ {2}word-count:\n {4}image:\n {6}repository: sarai\/skill-word-count\n[\s\S]*?healthService: skills\.Skill\n/m,
    );
    expect(values.indexOf('  word-count:')).toBeLessThan(values.indexOf('\nhost:'));
  });

  it('kind service: its own versioned contract package with generated code, and a skill serving it', async () => {
    await skillGenerator(tree, {
      name: 'ocr',
      kind: 'service',
      description: 'Text from images',
      skipFormat: true,
    });
    const c = 'packages/ocr-contract';
    expect(tree.read(`${c}/proto/sarai/ocr/v1/ocr.proto`, 'utf-8')).toMatch(
      /package sarai\.ocr\.v1;[\s\S]*service OcrService/,
    );
    for (const f of ['ocr.ts', 'ocr.client.ts', 'ocr.grpc-server.ts']) {
      expect(tree.exists(`${c}/src/gen/sarai/ocr/v1/${f}`), f).toBe(true);
    }
    expect(tree.read(`${c}/src/gen/sarai/ocr/v1/ocr.grpc-server.ts`, 'utf-8')).toContain(
      'ocrServiceDefinition',
    );
    const cpkg = json(tree, `${c}/package.json`);
    expect(cpkg['nx'].tags).toEqual(['type:contract']);
    expect(Object.keys(cpkg['nx'].targets).sort()).toEqual([
      'breaking',
      'check-generated',
      'generate',
      'proto-lint',
    ]);
    expect(json(tree, 'packages/skill-ocr/package.json')['dependencies']['@sarai/ocr-contract']).toBe(
      '0.1.0',
    );
    const entry = parseSkillEntry(json(tree, `${REGISTRY_DIR}/ocr.json`), 'entry');
    expect(entry.contract).toEqual({ package: '@sarai/ocr-contract', service: 'sarai.ocr.v1.OcrService' });
    expect(entry.healthService).toBe('sarai.ocr.v1.OcrService');
    expect(entry.description).toBe('Text from images');
  });

  it('refuses bad and taken names with a message that says what to do', async () => {
    await expect(skillGenerator(tree, { name: 'Bad_Name' })).rejects.toThrow(/lower-case kebab-case/);
    await expect(skillGenerator(tree, { name: 'draft' })).rejects.toThrow(
      /packages\/skill-registry\/skills\/draft\.json already exists/,
    );
    await expect(skillGenerator(tree, { name: 'skill-x' })).rejects.toBeInstanceOf(SkillKitError);
  });
});
