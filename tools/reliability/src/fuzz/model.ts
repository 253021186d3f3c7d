import { fileURLToPath } from 'node:url';

/** <repo>/models: the generated test models (gitignored), shared with skill-draft's tests. */
const MODELS_DIR = fileURLToPath(new URL('../../../../models/', import.meta.url));

/** The tiny draft test model (generated on first use, ≈ 0.2 MB, milliseconds). */
export async function tinyDraftModel(): Promise<string> {
  const { ensureModel } = await import('@sarai/skill-draft');
  return (await ensureModel(MODELS_DIR, { preset: 'tiny', type: 'Q8_0', seed: 1 })).path;
}
