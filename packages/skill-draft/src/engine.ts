import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import {
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { Admission } from '@sarai/skill-runtime';
import type { AdapterSpec } from './config.js';
import { DraftError } from './errors.js';
import { commonPrefixLength } from './text.js';
import { loadModelFile, type NodeLlamaCpp } from './engine/bindings.js';
import { ContextSlot } from './engine/context-slot.js';
import { loadLlamaModel, type LoadedModel, type ModelLoadOptions } from './engine/model-preload.js';
import { DeferredLog, singlePoolThread } from './engine/open-llama.js';
import { GrammarCache } from './engine/grammar-cache.js';
import { decode, type DecodeEnv } from './engine/decode.js';
import { ModelInstance, type AdapterSwap, type EngineStats } from './engine/model-instance.js';
import { canReleaseLoras, releaseLora } from './engine/lora-release.js';
import { checkPromptBytes } from './engine/prompt-bytes.js';
import {
  validateRequest,
  type EngineOptions,
  type GenerateHooks,
  type GenerateParams,
  type GenerateResult,
} from './engine/options.js';

// The engine is split by responsibility under ./engine/: options and request limits, node-llama-cpp bindings,
// text history (prefix reuse), context slots (sequences + batching), model instances (blue/green), the decode loop.
export {
  OPENMP_VARIANTS,
  chooseOpenmpVariant,
  defaultOpenmpModule,
  type OpenmpChoice,
  type OpenmpVariant,
} from './engine/bindings.js';
export { TextHistory } from './engine/text-history.js';
export type { AdapterSwap, EngineStats } from './engine/model-instance.js';
export {
  REQUEST_LIMITS,
  type EngineOptions,
  type FinishReason,
  type GenerateHooks,
  type GenerateParams,
  type GenerateResult,
} from './engine/options.js';

/**
 * The draft model: one loaded GGUF shared by several sequences with batched decoding, admission control with a
 * bounded queue, prefix reuse across requests, grammars, stop strings, log-probabilities and LoRA variants with
 * zero-downtime swaps (new requests go to the new context or model instance; in-flight ones finish on the old).
 */
export class DraftEngine {
  readonly modelName: string;
  private current: ModelInstance;
  /** A replaced model instance still finishing its generations (at most one: see {@link setAdapter}). */
  private retired: ModelInstance | undefined;
  private instanceSeq = 1;
  private active: string;
  /** Variants from ADAPTERS: always carried over to a fresh model instance. */
  private readonly pinned: Set<string>;
  private swapLock: Promise<unknown> = Promise.resolve();
  private readonly swapCounts = { context: 0, model: 0 };
  /** Adapter files freed in place (see EngineOptions.releaseAdapters). */
  private adaptersReleased = 0;
  /** Replaced contexts being drained and disposed. */
  private readonly pendingDisposals = new Set<Promise<void>>();
  private readonly modelFile: { size: number; mtimeMs: number; ino: number };
  private readonly admission: Admission;
  private readonly grammars = new GrammarCache(
    (grammar) => this.llama.createGrammar({ grammar }),
    () => this.takeErrors(),
  );
  private disposed = false;
  /** Recent llama.cpp error log lines (e.g. a grammar's left recursion), attached to the next error message. */
  private errorSink: string[] = [];

  private constructor(
    readonly options: Required<Omit<EngineOptions, 'logger' | 'modelName' | 'openmpModule' | 'preloaded'>> &
      Pick<EngineOptions, 'logger' | 'openmpModule'>,
    readonly llama: Llama,
    model: LlamaModel,
    modelName: string,
    private readonly nlc: NodeLlamaCpp,
  ) {
    this.modelName = modelName;
    this.current = new ModelInstance(1, model);
    this.active = options.activeAdapter;
    this.pinned = new Set(options.adapters.map((a) => a.name));
    const st = statSync(options.modelPath);
    this.modelFile = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    this.admission = new Admission({
      concurrency: options.sequences,
      maxQueue: options.maxQueue,
      busyError: (a) =>
        new DraftError(
          'DRAFT_QUEUE_FULL',
          `draft skill is busy: ${a.active} generations running and ${a.queued} queued (MAX_CONCURRENT=${a.concurrency}, MAX_QUEUE=${a.maxQueue}); retry later`,
        ),
      cancelledError: () => new DraftError('DRAFT_BAD_REQUEST', 'request cancelled while queued'),
    });
  }

  /** What the decode loop needs from this engine. */
  private get decodeEnv(): DecodeEnv {
    return {
      nlc: this.nlc,
      modelName: this.modelName,
      promptChunk: this.options.promptChunk,
      ignoreEos: this.options.ignoreEos,
      takeErrors: () => this.takeErrors(),
    };
  }

  /** The current model instance's model (tokenizer, metadata). */
  get model(): LlamaModel {
    return this.current.model;
  }

  private get slots(): Map<string, ContextSlot> {
    return this.current.slots;
  }

  /** The adapter count and the model and adapter files exist (before anything is loaded). */
  private static checkFiles(
    options: Pick<Required<EngineOptions>, 'adapters' | 'maxAdaptersPerModel' | 'modelPath'>,
  ): void {
    const staticFiles = new Set(options.adapters.flatMap((a) => a.files.map((f) => resolve(f.path))));
    if (staticFiles.size > options.maxAdaptersPerModel) {
      throw new DraftError(
        'DRAFT_BAD_CONFIG',
        `ADAPTERS lists ${staticFiles.size} adapter files but a model instance holds at most ${options.maxAdaptersPerModel} (ADAPTERS_PER_MODEL)`,
      );
    }
    if (!existsSync(options.modelPath)) {
      throw new DraftError(
        'DRAFT_MODEL_LOAD_FAILED',
        `MODEL_PATH ${options.modelPath} does not exist (mount the model file)`,
      );
    }
    for (const a of options.adapters) {
      for (const f of a.files) {
        if (!existsSync(f.path)) {
          throw new DraftError(
            'DRAFT_MODEL_LOAD_FAILED',
            `ADAPTERS: adapter "${a.name}" file ${f.path} does not exist`,
          );
        }
      }
    }
  }

  /** Loads the model and creates a context (with its sequences) per adapter variant. */
  static async load(opts: EngineOptions): Promise<DraftEngine> {
    const { preloaded: preload, ...given } = opts;
    const options = {
      batchSize: 512,
      maxTokensLimit: Math.min(1024, opts.contextSize - 1),
      adapters: [],
      activeAdapter: '',
      flashAttention: true,
      useMmap: true,
      ignoreEos: false,
      promptChunk: 128,
      binaries: 'prebuilt' as const,
      prefixReuse: true,
      maxAdaptersPerModel: 4,
      releaseAdapters: singlePoolThread(),
      ...given,
    };
    try {
      DraftEngine.checkFiles(options);
    } catch (e) {
      await preload?.discard();
      throw e;
    }
    const log = opts.logger;
    const loadOptions: ModelLoadOptions = {
      binaries: options.binaries,
      openmpModule: options.openmpModule,
      threads: options.threads,
      modelPath: options.modelPath,
      useMmap: options.useMmap,
      flashAttention: options.flashAttention,
    };
    const t0 = performance.now();
    const adopted = preload?.matches(loadOptions) ? preload : undefined;
    let loaded: LoadedModel;
    if (adopted) {
      loaded = await adopted.adopt();
      loaded.opened.log.attach(log);
    } else {
      await preload?.discard();
      loaded = await loadLlamaModel(loadOptions, new DeferredLog(log));
    }
    const waitedMs = performance.now() - t0;
    const { opened, model } = loaded;
    const { llama, nlc, binaries, variant, errors } = opened;
    const t2 = performance.now();
    const general = model.fileInfo.metadata?.general as { name?: string } | undefined;
    const name = opts.modelName || general?.name || basename(options.modelPath);
    if (options.releaseAdapters && !canReleaseLoras(model)) {
      options.releaseAdapters = false;
      log?.warn(
        {},
        'this node-llama-cpp has no adapter cache to free from: adapters are freed with their model',
      );
    }
    const engine = new DraftEngine(options, llama, model, name, nlc);
    errors.length = 0;
    engine.errorSink = errors;
    try {
      await engine.addSlot(engine.current, '', []);
      for (const a of options.adapters) await engine.addSlot(engine.current, a.name, a.files);
    } catch (e) {
      await engine.dispose();
      throw e;
    }
    // Start-up phases (container start → SERVING is mostly these).
    log?.info(
      {
        binaries,
        ...(variant ? { cpuVariant: variant.name } : {}),
        bindingsMs: Math.round(loaded.bindingsMs),
        modelMs: Math.round(loaded.modelMs),
        ...(adopted ? { preloaded: true, waitedMs: Math.round(waitedMs) } : {}),
        contextMs: Math.round(performance.now() - t2),
      },
      'llama.cpp ready',
    );
    return engine;
  }

  private async createSlot(
    instance: ModelInstance,
    name: string,
    files: AdapterSpec['files'],
  ): Promise<ContextSlot> {
    const slot = new ContextSlot(name, files);
    // Counted before the attempt: a file llama.cpp loaded may stay cached even if the context fails.
    for (const f of files) instance.adapterFiles.add(resolve(f.path));
    let context: LlamaContext;
    try {
      context = await instance.model.createContext({
        contextSize: this.options.contextSize,
        sequences: this.options.sequences,
        threads: this.options.threads,
        batchSize: this.options.batchSize,
        flashAttention: this.options.flashAttention,
        failedCreationRemedy: false,
        batching: { dispatchSchedule: (dispatch) => slot.scheduleDispatch(dispatch) },
        ...(files.length > 0
          ? { lora: { adapters: files.map((f) => ({ filePath: f.path, scale: f.scale })) } }
          : {}),
      });
    } catch (e) {
      throw new DraftError(
        'DRAFT_MODEL_LOAD_FAILED',
        `${name ? `adapter variant "${name}"` : 'context'} could not be created: ${(e as Error).message}${this.takeErrors()}`,
        { cause: e },
      );
    }
    const seqs: LlamaContextSequence[] = [];
    for (let i = 0; i < this.options.sequences; i++) seqs.push(context.getSequence());
    slot.attach(context, seqs);
    instance.contexts.add(slot);
    return slot;
  }

  private async addSlot(instance: ModelInstance, name: string, files: AdapterSpec['files']): Promise<void> {
    instance.slots.set(name, await this.createSlot(instance, name, files));
  }

  /** Runs swaps one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.swapLock.then(fn, fn);
    this.swapLock = run.catch(() => undefined);
    return run;
  }

  /**
   * Disposes a replaced context once its generations have finished, then (releaseAdapters) frees the adapter files
   * no context of its model applies any more.
   */
  private retireSlot(instance: ModelInstance, slot: ContextSlot): void {
    const disposed = slot
      .drained()
      .then(async () => {
        await slot.context.dispose();
        // Only once disposed: a context that failed to go keeps counting, and keeps its adapters loaded.
        instance.contexts.delete(slot);
      })
      .finally(() => instance.disposing.delete(slot));
    instance.disposing.set(slot, disposed);
    const done = disposed
      .then(() =>
        this.options.releaseAdapters ? this.exclusive(() => this.releaseUnused(instance)) : undefined,
      )
      .catch((e: unknown) => this.options.logger?.warn({ err: e }, 'disposing a replaced context failed'))
      .finally(() => this.pendingDisposals.delete(done));
    this.pendingDisposals.add(done);
  }

  /**
   * Frees the adapter files of the current instance that no context applies (releaseAdapters). Runs inside
   * {@link exclusive}, so no context is being created on the model meanwhile.
   */
  private async releaseUnused(instance: ModelInstance): Promise<void> {
    if (!this.options.releaseAdapters || instance !== this.current || this.disposed) return;
    for (const path of instance.unusedAdapterFiles()) {
      try {
        if (!(await releaseLora(instance.model, path))) return;
        instance.adapterFiles.delete(path);
        this.adaptersReleased += 1;
        this.options.logger?.debug({ adapter: path, instance: instance.id }, 'adapter weights freed');
      } catch (e) {
        this.options.logger?.warn(
          { err: e, adapter: path },
          'freeing an unused adapter failed; it stays loaded',
        );
      }
    }
  }

  /**
   * Before a swap counts the loaded adapter files: waits for replaced contexts that have no generation left to be
   * disposed and frees what they applied (those still generating keep their adapters).
   */
  private async reclaimAdapters(instance: ModelInstance): Promise<void> {
    if (!this.options.releaseAdapters) return;
    const idle = [...instance.disposing].filter(([slot]) => slot.inFlight === 0).map(([, p]) => p);
    await Promise.all(idle.map((p) => p.catch(() => undefined)));
    await this.releaseUnused(instance);
  }

  /** Disposes a replaced model instance (its contexts, adapters and weights) once its generations have finished. */
  private retireInstance(instance: ModelInstance): void {
    this.retired = instance;
    instance.disposal = (async () => {
      await Promise.all([...instance.contexts].map((c) => c.drained()));
      for (const c of instance.contexts) await c.context.dispose().catch(() => undefined);
      instance.contexts.clear();
      await instance.model.dispose().catch(() => undefined);
    })().finally(() => {
      if (this.retired === instance) this.retired = undefined;
    });
  }

  /**
   * Zero-downtime adapter swap for variant `name` (new or existing; `files` = its LoRA files, [] = base model).
   * New requests go to the new context as soon as it exists; generations already running finish on the old one,
   * which is disposed when they are done. When `activate`, the variant also becomes the default (requests that name
   * no adapter). Afterwards the base model, the ADAPTERS variants, the previous default and `name` are served; other
   * variants are dropped (their contexts disposed once idle). Swaps run one at a time.
   *
   * Memory bound: a model instance holds at most `maxAdaptersPerModel` adapter files. node-llama-cpp frees adapters
   * only with their model; with `releaseAdapters` the engine frees the files of replaced contexts in place once their
   * generations finished, so a steady series of swaps stays on one instance. A swap that would exceed the bound (too
   * many files in use at once, or no in-place release) loads a fresh model instance with the base
   * context, the ADAPTERS variants, the active variant and `name`; other variants are dropped. The old instance is
   * disposed once its generations finish, and a fresh instance is only loaded after the previous old one is gone:
   * never more than two model instances, each with at most `maxAdaptersPerModel` adapter files and 3 + |ADAPTERS|
   * serving contexts (plus replaced ones until they drain). Give every adapter version a new file name (the cache
   * is by path).
   */
  setAdapter(
    name: string,
    files: AdapterSpec['files'],
    opts: { activate?: boolean } = {},
  ): Promise<AdapterSwap> {
    return this.exclusive(async () => {
      if (this.disposed) throw new DraftError('DRAFT_NOT_READY', 'engine is disposed');
      for (const f of files) {
        if (!existsSync(f.path))
          throw new DraftError('DRAFT_UNKNOWN_ADAPTER', `adapter file ${f.path} does not exist`);
      }
      const blue = this.current;
      await this.reclaimAdapters(blue);
      const fresh = new Set(files.map((f) => resolve(f.path)).filter((p) => !blue.adapterFiles.has(p)));
      if (blue.adapterFiles.size + fresh.size <= this.options.maxAdaptersPerModel) {
        const slot = await this.createSlot(blue, name, files);
        // Served after the swap: base, ADAPTERS variants, the previous default and `name`. The contexts (KV cache)
        // of other variants are released; their adapter weights stay cached on this model until it is replaced.
        const dropped = [...blue.slots.keys()].filter((v) => v && v !== name && !this.keeps(v));
        const old = blue.slots.get(name);
        blue.slots.set(name, slot);
        if (opts.activate) this.active = name;
        if (old) this.retireSlot(blue, old);
        for (const v of dropped) {
          this.retireSlot(blue, blue.slots.get(v) as ContextSlot);
          blue.slots.delete(v);
        }
        this.swapCounts.context += 1;
        return { kind: 'context', instance: blue.id, dropped };
      }
      return this.swapModel(blue, name, files, opts.activate === true);
    });
  }

  /** Variants a swap keeps serving besides the new one: the ADAPTERS variants and the current default. */
  private keeps(variant: string): boolean {
    return this.pinned.has(variant) || variant === this.active;
  }

  private async swapModel(
    blue: ModelInstance,
    name: string,
    files: AdapterSpec['files'],
    activate: boolean,
  ): Promise<AdapterSwap> {
    const carry = new Map<string, AdapterSpec['files']>();
    for (const [variant, slot] of blue.slots) {
      if (variant && this.keeps(variant)) carry.set(variant, slot.files);
    }
    carry.set(name, files);
    const needed = new Set([...carry.values()].flatMap((fs) => fs.map((f) => resolve(f.path))));
    if (needed.size > this.options.maxAdaptersPerModel) {
      throw new DraftError(
        'DRAFT_BAD_CONFIG',
        `the ADAPTERS variants, the active adapter and "${name}" need ${needed.size} adapter files on one model; ADAPTERS_PER_MODEL is ${this.options.maxAdaptersPerModel}`,
      );
    }
    const st = statSync(this.options.modelPath, { throwIfNoEntry: false });
    if (
      !st ||
      st.size !== this.modelFile.size ||
      st.mtimeMs !== this.modelFile.mtimeMs ||
      st.ino !== this.modelFile.ino
    ) {
      throw new DraftError(
        'DRAFT_MODEL_LOAD_FAILED',
        `MODEL_PATH ${this.options.modelPath} changed since start; restart the service to load a new base model`,
      );
    }
    // At most two instances: the previous blue must be gone before a new green is loaded.
    await this.retired?.disposal;
    const green = new ModelInstance(
      ++this.instanceSeq,
      await loadModelFile(this.llama, this.options, this.errorSink),
    );
    try {
      await this.addSlot(green, '', []);
      for (const [variant, fs] of carry) await this.addSlot(green, variant, fs);
      if (this.disposed) throw new DraftError('DRAFT_NOT_READY', 'engine is disposed');
    } catch (e) {
      for (const c of green.contexts) await c.context.dispose().catch(() => undefined);
      await green.model.dispose().catch(() => undefined);
      throw e;
    }
    this.current = green;
    if (activate) this.active = name;
    this.retireInstance(blue);
    this.swapCounts.model += 1;
    this.options.logger?.info(
      { from: blue.id, to: green.id, adapter: name, carried: [...carry.keys()] },
      'adapter swap loaded a fresh model instance',
    );
    return {
      kind: 'model',
      instance: green.id,
      dropped: [...blue.slots.keys()].filter((v) => v && !carry.has(v)),
    };
  }

  /** Makes a loaded variant ('' = base model) serve requests that name no adapter. */
  activate(name: string): Promise<void> {
    return this.exclusive(async () => {
      if (!this.slots.has(name)) throw this.unknownAdapter(name);
      this.active = name;
    });
  }

  private unknownAdapter(name: string): DraftError {
    return new DraftError(
      'DRAFT_UNKNOWN_ADAPTER',
      `adapter "${name}" is not loaded (available: ${this.variants.filter(Boolean).join(', ') || 'none'})`,
    );
  }

  /** Resolves when every replaced context and model instance has been disposed (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.pendingDisposals.size > 0 || this.retired) {
      await Promise.all([...this.pendingDisposals, this.retired?.disposal]);
    }
  }

  /** Generations currently served by a variant, on any context or model instance. */
  inFlight(name: string): number {
    let n = 0;
    for (const inst of [this.current, this.retired]) {
      for (const c of inst?.contexts ?? []) if (c.name === name) n += c.inFlight;
    }
    return n;
  }

  stats(): EngineStats {
    const instances = [this.current, ...(this.retired ? [this.retired] : [])].map((inst) => ({
      id: inst.id,
      current: inst === this.current,
      adapterFiles: inst.adapterFiles.size,
      contexts: inst.contexts.size,
      inFlight: inst.inFlight,
    }));
    return {
      instances,
      maxAdaptersPerModel: this.options.maxAdaptersPerModel,
      active: this.active,
      variants: this.variants,
      swaps: { ...this.swapCounts },
      releaseAdapters: this.options.releaseAdapters,
      adaptersReleased: this.adaptersReleased,
    };
  }

  /** Names of the variants (the base model is ''). */
  get variants(): string[] {
    return [...this.slots.keys()];
  }

  get activeAdapter(): string {
    return this.active;
  }

  /** GGUF general.architecture of the base model. */
  get architecture(): string {
    return String(
      (this.model.fileInfo.metadata?.general as { architecture?: string } | undefined)?.architecture ?? '',
    );
  }

  get running(): number {
    return this.admission.active;
  }

  get queued(): number {
    return this.admission.queued;
  }

  get contextSize(): number {
    return this.options.contextSize;
  }

  /** Tokens of a prompt as the engine evaluates it (special tokens such as `<|im_start|>` are parsed). */
  tokenize(text: string): Token[] {
    const tokens = this.model.tokenize(text, true);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos != null && tokens[0] !== bos) tokens.unshift(bos);
    return tokens;
  }

  private grammarFor(text: string): LlamaGrammar | Promise<LlamaGrammar> {
    return this.grammars.get(text);
  }

  private takeErrors(): string {
    const lines = this.errorSink.splice(0);
    return lines.length ? ` (${lines.join('; ')})` : '';
  }

  /** Checks a request against the limits; throws DRAFT_BAD_REQUEST (or DRAFT_PROMPT_TOO_LONG) naming the field. */
  validate(params: GenerateParams): void {
    validateRequest(params, this.options.maxTokensLimit);
    checkPromptBytes(params.prompt, this.options.contextSize, this.model);
    const adapter = params.adapter ?? '';
    if (adapter && !this.slots.has(adapter)) throw this.unknownAdapter(adapter);
  }

  /** Generates a completion of `params.prompt` (raw text, no chat template applied). */
  async generate(params: GenerateParams, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    if (this.disposed) throw new DraftError('DRAFT_NOT_READY', 'engine is disposed');
    this.validate(params);
    const grammarPromise = params.grammar ? this.grammarFor(params.grammar) : undefined;
    const grammar = grammarPromise ? await grammarPromise : undefined;
    const tokens = this.tokenize(params.prompt);
    const ctx = this.options.contextSize;
    if (tokens.length >= ctx) {
      throw new DraftError(
        'DRAFT_PROMPT_TOO_LONG',
        `prompt is ${tokens.length} tokens; the context holds ${ctx} (CONTEXT_SIZE)`,
      );
    }
    if (tokens.length + params.maxTokens > ctx) {
      throw new DraftError(
        'DRAFT_PROMPT_TOO_LONG',
        `prompt (${tokens.length} tokens) + max_tokens (${params.maxTokens}) exceed the context of ${ctx} tokens (CONTEXT_SIZE); shorten the prompt or lower max_tokens`,
      );
    }
    const signal = hooks.signal;
    const queuedAt = performance.now();
    const release = await this.admission.acquire(signal ? { signal } : {});
    const queueMs = performance.now() - queuedAt;
    const variant = params.adapter || this.active;
    const slot = this.slots.get(variant);
    if (!slot) {
      release();
      throw this.unknownAdapter(variant);
    }
    const model = slot.context.model;
    const picked = slot.take(tokens, params.prompt, (text) => model.tokenize(text, true));
    const { seq } = picked;
    // The reuse-friendly tokenization must fit as well; otherwise evaluate the canonical one.
    const fits = picked.tokens.length + params.maxTokens <= ctx;
    const useTokens = fits ? picked.tokens : tokens;
    const common = !this.options.prefixReuse
      ? 0
      : fits
        ? picked.common
        : commonPrefixLength(seq.contextTokens, tokens);
    try {
      return await decode(this.decodeEnv, {
        seq,
        slot,
        tokens: useTokens,
        commonIn: common,
        params,
        grammar,
        hooks,
        queueMs,
      });
    } finally {
      slot.put(seq);
      release();
    }
  }
  /** Fails queued requests, waits for nothing, frees contexts, the model and the llama backend. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.admission.failAll(new DraftError('DRAFT_NOT_READY', 'draft engine is shutting down'));
    for (const inst of [this.retired, this.current]) {
      if (!inst) continue;
      for (const slot of inst.contexts) await slot.context.dispose().catch(() => undefined);
      await inst.model.dispose().catch(() => undefined);
    }
    await this.llama.dispose().catch(() => undefined);
  }
}
