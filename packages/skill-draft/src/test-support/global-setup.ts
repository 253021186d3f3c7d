import { ensureTestModels } from './models.js';

/** vitest globalSetup: the tiny model (and a LoRA adapter for it) exist before any test starts. */
export default async function setup(): Promise<void> {
  await ensureTestModels();
}
