import { resolve } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';

/**
 * node-llama-cpp (3.x) keeps every LoRA file a context loaded in `LlamaModel._loraAdapters` (resolved path → native
 * `AddonModelLora`) and frees them only with the model. The native object has a public `dispose()`
 * (`llama_adapter_lora_free` on the libuv pool, then it leaves the model's adapter list), which is what this module
 * calls. Internal API: every access is checked, and when the shape differs nothing is freed (the engine then falls back
 * to fresh model instances).
 */
interface NativeLora {
  dispose(): Promise<void>;
}

function cacheOf(model: LlamaModel): Map<string, unknown> | undefined {
  const cache = (model as unknown as { _loraAdapters?: unknown })._loraAdapters;
  return cache instanceof Map ? (cache as Map<string, unknown>) : undefined;
}

const isNativeLora = (x: unknown): x is NativeLora =>
  typeof x === 'object' && x !== null && typeof (x as { dispose?: unknown }).dispose === 'function';

/** Whether this node-llama-cpp exposes the per-model adapter cache that {@link releaseLora} frees from. */
export function canReleaseLoras(model: LlamaModel): boolean {
  return cacheOf(model) !== undefined;
}

/**
 * Frees the weights of one adapter file loaded on `model` and forgets it in node-llama-cpp's cache, so a later
 * context loads the file again. Call it only when no context of `model` applies the adapter any more (llama.cpp
 * frees the tensors at once) and while no other llama.cpp call of this model can run at the same time.
 * Resolves true when the file is no longer loaded (also when it never was), false when node-llama-cpp's internals
 * are not as expected and nothing was freed.
 */
export async function releaseLora(model: LlamaModel, path: string): Promise<boolean> {
  const cache = cacheOf(model);
  if (!cache) return false;
  const key = resolve(process.cwd(), path); // node-llama-cpp's own key (LlamaModel._getOrLoadLora)
  const lora = cache.get(key);
  if (lora === undefined) return true;
  if (!isNativeLora(lora)) return false;
  cache.delete(key);
  await lora.dispose();
  return true;
}
