import { envInt } from '@sarai/formats';
import { commonConfigSchema } from '@sarai/skill-runtime';
import { z } from 'zod';
import { MAX_LIMITS } from './runner/limits.js';

/** Environment of the sandbox skill (on top of HOST, PORT, METRICS_PORT, LOG_LEVEL, ...). */
export const sandboxConfigSchema = commonConfigSchema.extend({
  /** Children running at once; each is one Node process (~40 MB RSS at rest). */
  SANDBOX_CONCURRENCY: envInt(1, 64).default(2),
  /** Requests waiting beyond that; more → RESOURCE_EXHAUSTED. */
  SANDBOX_MAX_QUEUE: envInt(0, 10_000).default(32),
  /** Where per-request working directories go (a tmpfs in the container). Empty = the OS tmp dir. */
  SANDBOX_WORK_ROOT: z.string().default(''),
  /**
   * Network of the children: `inherit` (the container has none), `unshare` (a network namespace per child; start
   * fails if that does not work), `auto` (use it when the kernel allows user namespaces — embedded mode).
   */
  SANDBOX_NETWORK: z.enum(['inherit', 'unshare', 'auto']).default('inherit'),
  /** Node binary of the children. Empty = the service's own. */
  SANDBOX_NODE: z.string().default(''),
  /** Ceilings of per-request limits. */
  SANDBOX_MAX_WALL_MS: envInt(100, 600_000).default(MAX_LIMITS.wallMs),
  SANDBOX_MAX_CPU_MS: envInt(50, 600_000).default(MAX_LIMITS.cpuMs),
  SANDBOX_MAX_MEMORY_MB: envInt(64, 8_192).default(MAX_LIMITS.memoryMb),
  SANDBOX_MAX_OUTPUT_BYTES: envInt(0, 16 * 1024 * 1024).default(MAX_LIMITS.outputBytes),
  SANDBOX_MAX_TEST_TIMEOUT_MS: envInt(10, 600_000).default(MAX_LIMITS.testTimeoutMs),
});
export type SandboxConfig = z.infer<typeof sandboxConfigSchema>;
