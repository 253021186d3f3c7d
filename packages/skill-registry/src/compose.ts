import { envKey, serviceName } from './address.js';
import { publishEnv } from './compose-env.js';
import { RegistryError } from './errors.js';
import type { SkillEntry } from './schema.js';

/** The line of the compose template that the generated skill services replace. */
export const COMPOSE_MARKER = '  # @sarai/skill-registry: skill services';

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The compose service block of one skill (2-space indented under `services:`), hardened via `*hardening`. */
export function renderComposeService(e: SkillEntry): string {
  if (!e.image) return '';
  const key = envKey(e.name);
  const lines: string[] = [];
  for (const c of e.compose.comment) lines.push(c ? `  # ${c}` : '  #');
  lines.push(`  ${serviceName(e.name)}:`, '    <<: *hardening');
  // SARAI_IMAGE_PREFIX: an optional registry in front of every image (e.g. `registry.example.com:5000/`).
  lines.push(`    image: \${SARAI_IMAGE_PREFIX:-}\${SARAI_SKILL_${key}_IMAGE:-${e.image}:latest}`);
  if (e.hardening.tmpfsSize !== '256m')
    lines.push('    tmpfs:', `      - /tmp:size=${e.hardening.tmpfsSize},mode=1777`);
  const env = { SKILL_NAME: e.name, ...e.env, ...e.compose.environment };
  lines.push('    environment:', ...Object.entries(env).map(([k, v]) => `      ${k}: ${quote(v)}`));
  if (e.compose.volumes.length > 0)
    lines.push('    volumes:', ...e.compose.volumes.map((v) => `      - ${v}`));
  if (e.hardening.network === 'none') {
    lines.push('    network_mode: none');
  } else if (e.compose.publish) {
    lines.push('    ports:', `      - '\${${publishEnv(e.name)}:-${e.compose.publish}}:${e.port}'`);
  }
  const { cpus, memory, pids } = e.resources;
  lines.push(
    `    cpus: ${cpus}`,
    `    mem_limit: ${memory}`,
    `    memswap_limit: ${memory}`,
    `    pids_limit: ${pids}`,
  );
  if (e.hardening.network !== 'none') lines.push('    networks: [sarai_net]');
  return lines.join('\n');
}

/**
 * The compose file: the template (header, `x-hardening`, non-skill services, networks) with {@link COMPOSE_MARKER}
 * replaced by one service per registered skill that has an image, in name order.
 */
export function renderComposeFile(
  template: string,
  skills: readonly SkillEntry[],
  templateName = 'compose.template.yml',
): string {
  const parts = template.split(`${COMPOSE_MARKER}\n`);
  if (parts.length !== 2) {
    throw new RegistryError(
      'REGISTRY_BAD_TEMPLATE',
      `${templateName} must contain the line "${COMPOSE_MARKER}" exactly once`,
    );
  }
  const services = skills
    .map(renderComposeService)
    .filter(Boolean)
    .map((s) => `${s}\n\n`)
    .join('');
  const banner =
    `# GENERATED from ${templateName} and @sarai/skill-registry (packages/skill-registry/skills/*.json) by\n` +
    '# `npx nx run @sarai/deploy:compose`: edit those, not this file (a test fails when they disagree).\n';
  return `${banner}${parts[0]}${services}${parts[1]}`;
}
