import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** <repo>/models: generated model files (gitignored), produced by @sarai/skill-draft's GGUF generator. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const MODELS_DIR = join(REPO_ROOT, 'models');
export const TINY_MODEL = join(MODELS_DIR, 'sarai-tiny-q8_0-s1.gguf');
export const BENCH_MODEL = join(MODELS_DIR, 'sarai-qwen2.5-0.5b-q8_0-s1.gguf');

/** @sarai/skill-draft's model generator CLI (built by its `build` target, which this package's `test` depends on). */
const GENERATOR_CLI = join(REPO_ROOT, 'packages', 'skill-draft', 'dist', 'gguf', 'cli.js');

/**
 * Makes sure a generated model exists, running @sarai/skill-draft's generator CLI when it does not (this package
 * may not import skill-draft: module boundaries).
 */
export async function ensureGeneratedModel(
  preset: 'tiny' | 'qwen2.5-0.5b',
  type: 'Q8_0' | 'Q4_0',
  path: string,
): Promise<string> {
  if (existsSync(path)) return path;
  if (!existsSync(GENERATOR_CLI)) {
    throw new Error(
      `${path} is missing and @sarai/skill-draft is not built; run \`nx run @sarai/skill-draft:models\``,
    );
  }
  await promisify(execFile)(
    process.execPath,
    [GENERATOR_CLI, '--preset', preset, '--type', type, '--seed', '1', '--out', MODELS_DIR],
    {
      timeout: 600_000,
    },
  );
  if (!existsSync(path)) throw new Error(`the skill-draft generator did not produce ${path}`);
  return path;
}
