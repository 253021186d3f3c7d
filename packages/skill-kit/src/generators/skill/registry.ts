import type { Tree } from '@nx/devkit';
import {
  createRegistry,
  parseSkillEntry,
  renderComposeFile,
  type SkillEntry,
  type SkillEntryInput,
} from '@sarai/skill-registry';

export const REGISTRY_DIR = 'packages/skill-registry/skills';
export const COMPOSE_TEMPLATE = 'apps/deploy/compose.template.yml';
export const COMPOSE_FILE = 'apps/deploy/docker-compose.yml';

/** The registry entries in the tree (validated). */
export function treeEntries(tree: Tree): SkillEntry[] {
  if (!tree.exists(REGISTRY_DIR)) return [];
  return tree
    .children(REGISTRY_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) =>
      parseSkillEntry(
        JSON.parse(tree.read(`${REGISTRY_DIR}/${f}`, 'utf-8') as string),
        `${REGISTRY_DIR}/${f}`,
      ),
    );
}

/** Next free loopback port to publish a skill on (after the registered ones; 50052 first). */
export function nextPublishPort(entries: readonly SkillEntry[]): number {
  const used = entries
    .map((e) => /:(\d+)$/.exec(e.compose.publish ?? '')?.[1])
    .filter((p): p is string => p !== undefined)
    .map(Number);
  return Math.max(50051, ...used) + 1;
}

/** Writes `packages/skill-registry/skills/<name>.json`. */
export function writeEntry(tree: Tree, entry: SkillEntryInput): void {
  parseSkillEntry(entry, 'generated entry');
  tree.write(`${REGISTRY_DIR}/${entry.name}.json`, `${JSON.stringify(entry, null, 2)}\n`);
}

/** Regenerates apps/deploy/docker-compose.yml from its template and the registry in the tree; false when absent. */
export function regenerateCompose(tree: Tree): boolean {
  if (!tree.exists(COMPOSE_TEMPLATE)) return false;
  const registry = createRegistry(treeEntries(tree));
  tree.write(
    COMPOSE_FILE,
    renderComposeFile(tree.read(COMPOSE_TEMPLATE, 'utf-8') as string, registry.skills),
  );
  return true;
}
