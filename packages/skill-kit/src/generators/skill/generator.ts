import { formatFiles, generateFiles, type GeneratorCallback, type Tree } from '@nx/devkit';
import type { SkillEntryInput } from '@sarai/skill-registry';
import { fileURLToPath } from 'node:url';
import { SkillKitError } from '../../errors.js';
import { addChartSkill, CHART_VALUES } from './chart.js';
import { generateContractCode } from './codegen.js';
import { skillNames } from './names.js';
import { nextPublishPort, regenerateCompose, REGISTRY_DIR, treeEntries, writeEntry } from './registry.js';

/** Options of `nx g @sarai/skill-kit:skill` (schema.json). */
export interface SkillGeneratorOptions {
  /** kebab-case skill name (package `@sarai/skill-<name>`). */
  name: string;
  /** `generate` (default): serves skills.Skill/Generate; `service`: its own contract package `@sarai/<name>-contract`. */
  kind?: 'generate' | 'service';
  description?: string;
  skipFormat?: boolean;
}

const FILES = fileURLToPath(new URL('../../../files/', import.meta.url));
const RESOURCES = { cpus: 1, memory: '256m', pids: 128 } as const;

/** Appends TS project references to the root tsconfig.json (what `nx sync` would add), keeping its formatting. */
function addRootReferences(tree: Tree, paths: string[]): void {
  if (!tree.exists('tsconfig.json')) return;
  let text = tree.read('tsconfig.json', 'utf-8') as string;
  const json = JSON.parse(text) as { references?: { path: string }[] };
  if (!json.references) return;
  for (const path of paths) {
    if (json.references.some((r) => r.path === path)) continue;
    const end = text.lastIndexOf(']');
    const body = text.slice(0, end).trimEnd();
    const entry = `{\n      "path": "${path}"\n    }`;
    text = `${body}${body.endsWith('[') ? '\n    ' : ',\n    '}${entry}\n  ${text.slice(end)}`;
    json.references.push({ path });
  }
  tree.write('tsconfig.json', text);
}

/**
 * Creates a working skill: `packages/skill-<name>` (defineSkill service, config, errors, Dockerfile on the base image,
 * README, loopback gRPC test, hardened-container test), `packages/<name>-contract` for kind `service` (proto
 * `sarai.<name>.v1`, generated code, connect helper), the registry entry and the regenerated compose file.
 */
export async function skillGenerator(tree: Tree, options: SkillGeneratorOptions): Promise<GeneratorCallback> {
  const n = skillNames(options.name);
  const kind = options.kind ?? 'generate';
  const isService = kind === 'service';
  const skillRoot = `packages/skill-${n.name}`;
  const contractRoot = `packages/${n.name}-contract`;
  const entries = treeEntries(tree);
  for (const taken of [skillRoot, ...(isService ? [contractRoot] : []), `${REGISTRY_DIR}/${n.name}.json`]) {
    if (tree.exists(taken)) {
      throw new SkillKitError(
        'SKILL_KIT_EXISTS',
        `${taken} already exists: pick another name or remove it first`,
      );
    }
  }
  const description =
    options.description?.trim() ||
    (isService
      ? `The ${n.name} skill (own contract sarai.${n.snake}.v1).`
      : `The ${n.name} skill (skills.Skill/Generate).`);
  const serviceFqn = isService ? `sarai.${n.snake}.v1.${n.className}Service` : 'skills.Skill';
  const contractPackage = isService ? `@sarai/${n.name}-contract` : '@sarai/proto';
  const vars = {
    ...n,
    kind,
    isService,
    description: description.replace(/"/g, "'"),
    serviceFqn,
    memoryMiB: Number.parseInt(RESOURCES.memory, 10),
    cpus: RESOURCES.cpus,
    tmpl: '',
  };

  generateFiles(tree, `${FILES}skill`, skillRoot, {
    ...vars,
    references: [
      '../skill-runtime/tsconfig.lib.json',
      '../../tools/testkit/tsconfig.lib.json',
      '../proto/tsconfig.lib.json',
      ...(isService ? [`../${n.name}-contract/tsconfig.lib.json`] : []),
    ],
  });
  if (isService) {
    generateFiles(tree, `${FILES}contract`, contractRoot, {
      ...vars,
      references: ['../proto/tsconfig.lib.json'],
    });
    generateContractCode(tree, contractRoot);
  }

  const entry: SkillEntryInput = {
    name: n.name,
    description,
    kind,
    roles: [],
    package: `@sarai/skill-${n.name}`,
    image: `sarai/skill-${n.name}`,
    port: 50051,
    deadlineMs: 5_000,
    breaker: {
      resetTimeoutMs: 5_000,
      errorThresholdPercentage: 50,
      volumeThreshold: 2,
      rollingCountTimeoutMs: 10_000,
    },
    resources: { ...RESOURCES },
    hardening: { network: 'bridge', tmpfsSize: '64m' },
    nativeAddons: [],
    env: {},
    contract: { package: contractPackage, service: serviceFqn },
    healthService: serviceFqn,
    compose: { publish: `127.0.0.1:${nextPublishPort(entries)}` },
    embedded: { env: {}, startTimeoutMs: 30_000 },
  };
  writeEntry(tree, entry);
  const compose = regenerateCompose(tree);
  const chart = addChartSkill(tree, {
    name: n.name,
    image: `sarai/skill-${n.name}`,
    healthService: serviceFqn,
    cpus: RESOURCES.cpus,
    memoryMiB: vars.memoryMiB,
    tmpfsMiB: 64,
  });
  addRootReferences(tree, [...(isService ? [`./${contractRoot}`] : []), `./${skillRoot}`]);
  if (!options.skipFormat) await formatFiles(tree);

  return () => {
    const pkgs = [...(isService ? [contractPackage] : []), `@sarai/skill-${n.name}`];
    console.log(
      [
        `skill "${n.name}" (${kind}) created: ${skillRoot}${isService ? `, ${contractRoot}` : ''}, ${REGISTRY_DIR}/${n.name}.json` +
          (compose ? ', apps/deploy/docker-compose.yml (service skill-' + n.name + ')' : '') +
          (chart ? `, ${CHART_VALUES} (skills.${n.name})` : ''),
        'next:',
        '  flock /tmp/sarai-npm.lock npm install --no-audit --no-fund   # links the new workspace package(s)',
        `  npx nx run-many -t build typecheck lint test -p ${pkgs.join(' ')}   # test builds the hardened image`,
        '  docs/adding-a-skill.md: give it a role, call it from the loop',
      ].join('\n'),
    );
  };
}

export default skillGenerator;
