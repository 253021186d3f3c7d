import { ModelPreload } from './engine/model-preload.js';
import { modelEnvOf, modelLoadOptionsOf } from './model-env.js';

/**
 * Starts loading the base model named by the environment (MODEL_PATH, THREADS, LLAMA_BINARIES, ...), or returns
 * undefined when those settings are invalid: the service's config parse then reports them. main.ts calls it first,
 * so llama.cpp reads and repacks the weights on the libuv thread pool while the main thread imports the gRPC stack.
 */
export function preloadModel(
  env: Record<string, string | undefined> = process.env,
): ModelPreload | undefined {
  const m = modelEnvOf(env);
  if (!m) return undefined;
  return new ModelPreload(modelLoadOptionsOf(m));
}
