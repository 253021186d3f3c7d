import { resolve } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import type { ContextSlot } from './context-slot.js';

/**
 * One loaded copy of the base model with a context per variant. node-llama-cpp caches every adapter file a context
 * ever used on its model and frees them only with the model; the engine frees unused ones in place when it can
 * (`releaseAdapters`, engine/lora-release.ts). An instance holds at most `maxAdaptersPerModel` adapter files at a
 * time; a swap beyond that goes to a fresh instance (blue/green).
 */
export class ModelInstance {
  /** Variant name → the context serving new requests for it ('' = base model). */
  readonly slots = new Map<string, ContextSlot>();
  /** Every context of this model not yet disposed: serving ones and replaced ones still finishing generations. */
  readonly contexts = new Set<ContextSlot>();
  /** Adapter files (resolved paths) loaded on this model: in memory until released or the model is disposed. */
  readonly adapterFiles = new Set<string>();
  /** Replaced contexts being disposed (after their generations finished) → their disposal. */
  readonly disposing = new Map<ContextSlot, Promise<void>>();
  /** Resolves once a retired instance has drained and been disposed. */
  disposal: Promise<void> | undefined;

  constructor(
    readonly id: number,
    readonly model: LlamaModel,
  ) {}

  get inFlight(): number {
    let n = 0;
    for (const c of this.contexts) n += c.inFlight;
    return n;
  }

  /** Loaded adapter files that no context of this model applies, nor one still being disposed. */
  unusedAdapterFiles(): string[] {
    const used = new Set<string>();
    for (const c of [...this.contexts, ...this.disposing.keys()])
      for (const f of c.files) used.add(resolve(f.path));
    return [...this.adapterFiles].filter((p) => !used.has(p));
  }
}

/** What the engine holds now (introspection for health, metrics, tests and the swap benchmark). */
export interface EngineStats {
  /** Loaded model instances: the current one first, then at most one retired instance still draining. */
  instances: Array<{
    id: number;
    current: boolean;
    adapterFiles: number;
    contexts: number;
    inFlight: number;
  }>;
  maxAdaptersPerModel: number;
  active: string;
  variants: string[];
  /** Adapter swaps done in place (new context on the current model) and by loading a fresh model instance. */
  swaps: { context: number; model: number };
  /** Whether unused adapter files are freed in place (else only with their model instance). */
  releaseAdapters: boolean;
  /** Adapter files freed in place so far. */
  adaptersReleased: number;
}

/** Result of {@link DraftEngine.setAdapter}. */
export interface AdapterSwap {
  /** 'context': a new context on the current model; 'model': a fresh model instance took over. */
  kind: 'context' | 'model';
  instance: number;
  /** Variants no longer served (not carried over to a fresh model instance). */
  dropped: string[];
}
