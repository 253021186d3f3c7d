import type { Tree } from '@nx/devkit';

export const CHART_VALUES = 'apps/chart/sarai/values.yaml';

export interface ChartSkill {
  name: string;
  image: string;
  healthService: string;
  cpus: number;
  memoryMiB: number;
  tmpfsMiB: number;
}

/**
 * Adds `skills.<name>` to the Helm chart's values (apps/chart/sarai/values.yaml) with the registry entry's image,
 * limits and readiness service, at the end of the `skills:` block; false when there is no chart or no such block.
 */
export function addChartSkill(tree: Tree, s: ChartSkill): boolean {
  if (!tree.exists(CHART_VALUES)) return false;
  const lines = (tree.read(CHART_VALUES, 'utf-8') as string).split('\n');
  const start = lines.findIndex((l) => l === 'skills:');
  if (start < 0 || lines.some((l) => l === `  ${s.name}:`)) return false;
  let end = lines.findIndex((l, i) => i > start && /^[^\s#]/.test(l));
  if (end < 0) end = lines.length;
  while (end - 1 > start && /^(#.*)?$/.test(lines[end - 1] ?? '')) end--;
  const block = [
    '',
    `  ${s.name}:`,
    '    image:',
    `      repository: ${s.image}`,
    "      tag: '0.1.0'",
    "      digest: ''",
    '    replicas: 1',
    `    healthService: ${s.healthService}`,
    '    env:',
    `      SKILL_NAME: ${s.name}`,
    `    tmpSizeLimit: ${s.tmpfsMiB}Mi`,
    '    resources:',
    `      requests: { cpu: 250m, memory: ${s.memoryMiB}Mi }`,
    `      limits: { cpu: '${s.cpus}', memory: ${s.memoryMiB}Mi }`,
    '    mounts: {}',
    '    startupSeconds: 30',
    '    autoscaling:',
    '      enabled: false',
    '    pdb:',
    '      minAvailable: 1',
  ];
  lines.splice(end, 0, ...block);
  tree.write(CHART_VALUES, lines.join('\n'));
  return true;
}
