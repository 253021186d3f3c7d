import { resolve } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { loadModelFile } from './bindings.js';
import { DeferredLog, openLlama, type OpenLlamaOptions, type OpenedLlama } from './open-llama.js';

/** What loading the base model depends on (a preload is used only when the engine asks for the same). */
export interface ModelLoadOptions extends OpenLlamaOptions {
  modelPath: string;
  useMmap: boolean;
  flashAttention: boolean;
}

/** llama.cpp with the base model loaded, and how long each part took. */
export interface LoadedModel {
  readonly opened: OpenedLlama;
  readonly model: LlamaModel;
  readonly bindingsMs: number;
  readonly modelMs: number;
}

/**
 * Loads the bindings and the base model (the llama instance is disposed again when the model fails to load).
 * `onLoadProgress` sees llama.cpp reading the weights (0–1).
 */
export async function loadLlamaModel(
  options: ModelLoadOptions,
  log = new DeferredLog(),
  onLoadProgress?: (loaded: number) => void,
): Promise<LoadedModel> {
  const t0 = performance.now();
  const opened = await openLlama(options, log);
  const t1 = performance.now();
  try {
    const model = await loadModelFile(opened.llama, options, opened.errors, onLoadProgress);
    return { opened, model, bindingsMs: t1 - t0, modelMs: performance.now() - t1 };
  } catch (e) {
    await opened.llama.dispose().catch(() => undefined);
    throw e;
  }
}

const keyOf = (o: ModelLoadOptions): string =>
  JSON.stringify([
    resolve(o.modelPath),
    o.binaries,
    o.openmpModule ?? '',
    o.threads,
    o.useMmap,
    o.flashAttention,
  ]);

/**
 * A base-model load started before the service's modules are imported: llama.cpp reads and repacks the weights on
 * the libuv thread pool while the main thread imports the gRPC stack and starts listening (container start →
 * SERVING). The engine adopts it when its options match, else discards it and loads its own.
 */
export class ModelPreload {
  /** The load; a failure surfaces when the engine adopts it (same error as loading there). */
  readonly loaded: Promise<LoadedModel>;
  /**
   * Settles once llama.cpp reads the weights on the thread pool (its first load progress), or when the load ended:
   * from then on the main thread is free to import the rest without delaying the load's own JavaScript steps
   * (node-llama-cpp parses the GGUF header and simulates the load first, on the main thread and the pool).
   */
  readonly started: Promise<void>;
  private readonly key: string;
  private adopted = false;

  constructor(options: ModelLoadOptions) {
    this.key = keyOf(options);
    let progressed!: () => void;
    const firstProgress = new Promise<void>((resolve) => (progressed = resolve));
    this.loaded = loadLlamaModel(options, new DeferredLog(), () => progressed());
    this.loaded.catch(() => undefined);
    this.started = Promise.race([
      firstProgress,
      this.loaded.then(
        () => undefined,
        () => undefined,
      ),
    ]);
  }

  /** True when this preload loaded what `options` ask for. */
  matches(options: ModelLoadOptions): boolean {
    return keyOf(options) === this.key;
  }

  /** Hands the load over (once); its buffered llama.cpp messages go to the adopter's logger from then on. */
  adopt(): Promise<LoadedModel> {
    if (this.adopted) throw new Error('a model preload is adopted once');
    this.adopted = true;
    return this.loaded;
  }

  /** Frees the preloaded model and llama instance (the engine loads with other options). */
  async discard(): Promise<void> {
    if (this.adopted) return;
    this.adopted = true;
    const loaded = await this.loaded.catch(() => undefined);
    if (!loaded) return;
    await loaded.model.dispose().catch(() => undefined);
    await loaded.opened.llama.dispose().catch(() => undefined);
  }
}
