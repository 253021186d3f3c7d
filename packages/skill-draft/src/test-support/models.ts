import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ensureModel, generateLoraAdapter, modelFileName } from '../gguf/models.js';
import { existsSync } from 'node:fs';

/** <repo>/models: generated model files (gitignored). */
export const MODELS_DIR = fileURLToPath(new URL('../../../../models/', import.meta.url));
export const TINY_MODEL = join(MODELS_DIR, modelFileName('tiny', 'Q8_0', 1));
export const TINY_LORA = join(MODELS_DIR, 'sarai-tiny-lora-r4-s7.gguf');

/** Generates the tiny test model and a LoRA adapter for it unless present (≈ 0.2 MB, milliseconds). */
export async function ensureTestModels(): Promise<void> {
  await ensureModel(MODELS_DIR, { preset: 'tiny', type: 'Q8_0', seed: 1 });
  if (!existsSync(TINY_LORA)) {
    await generateLoraAdapter({
      preset: 'tiny',
      targets: ['attn_q', 'attn_output', 'ffn_up', 'ffn_down'],
      rank: 4,
      alpha: 8,
      seed: 7,
      std: 0.5,
      path: TINY_LORA,
    });
  }
}
