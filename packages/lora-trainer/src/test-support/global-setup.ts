import { TINY_MODEL, ensureGeneratedModel } from './models.js';

/** vitest globalSetup: the tiny generated model exists before any test starts. */
export default async function setup(): Promise<void> {
  await ensureGeneratedModel('tiny', 'Q8_0', TINY_MODEL);
}
