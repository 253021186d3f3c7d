import { envBool } from '@sarai/formats';
import { z } from 'zod';
import { SkillRuntimeError } from './errors.js';

const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);

/** Settings every skill reads from its environment. Skills `.extend()` it with their own. */
export const commonConfigSchema = z.object({
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port(50051),
  /** Prometheus endpoint port; 0 = ephemeral, -1 = off. */
  METRICS_PORT: z.coerce.number().int().min(-1).max(65535).default(9464),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PROMPTS: envBool.default(false),
  SARAI_GRPC_MAX_MESSAGE_MB: z.coerce.number().positive().max(2047).default(32),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
});
export type CommonConfig = z.infer<typeof commonConfigSchema>;

/**
 * Validates the environment against a schema. Empty strings count as unset so defaults apply.
 * Throws a {@link SkillRuntimeError} (`RUNTIME_BAD_CONFIG`) whose message names every bad setting.
 */
export function parseEnvConfig<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const name = i.path.join('.') || '(config)';
    const got =
      typeof i.path[0] === 'string' && cleaned[i.path[0]] !== undefined
        ? ` (got "${cleaned[i.path[0]]}")`
        : '';
    return `${name}: ${i.message}${got}`;
  });
  throw new SkillRuntimeError('RUNTIME_BAD_CONFIG', `invalid configuration: ${problems.join('; ')}`);
}
