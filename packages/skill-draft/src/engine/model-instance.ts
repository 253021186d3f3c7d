import type { LlamaModel } from 'node-llama-cpp';
import type { ContextSlot } from './context-slot.js';

/**
 * One loaded copy of the base model with a context per variant. node-llama-cpp caches every adapter file a context
 * ever used on its model and frees them only with the model, so an instance takes at most
 * `maxAdaptersPerModel` distinct adapter files; the next one goes to a fresh instance (blue/green).
 */
export class ModelInstance {
  /** Variant name → the context serving new requests for it ('' = base model). */
  readonly slots = new Map<string, ContextSlot>();
  /** Every context of this model not yet disposed: serving ones and replaced ones still finishing generations. */
  readonly contexts = new Set<ContextSlot>();
  /** Adapter files (resolved paths) loaded on this model: they stay in memory until the model is disposed. */
  readonly adapterFiles = new Set<string>();
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
}

/** Result of {@link DraftEngine.setAdapter}. */
export interface AdapterSwap {
  /** 'context': a new context on the current model; 'model': a fresh model instance took over. */
  kind: 'context' | 'model';
  instance: number;
  /** Variants no longer served (not carried over to a fresh model instance). */
  dropped: string[];
}
