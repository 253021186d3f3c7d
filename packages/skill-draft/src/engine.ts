import { randomInt } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as nodeLlamaCpp from 'node-llama-cpp';
import {
  LlamaLogLevel,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import type { Logger } from 'pino';
import type { AdapterSpec } from './config.js';
import { DraftError } from './errors.js';
import { checkGbnf } from './gbnf-check.js';
import { StopMatcher, TokenTextDecoder, commonPrefixLength } from './text.js';

export interface EngineOptions {
  modelPath: string;
  /** Identity reported with every result; default: GGUF general.name, else the file name. */
  modelName?: string;
  /** CPU threads for decoding (getLlama maxThreads and each context's threads). */
  threads: number;
  /** Tokens per sequence. */
  contextSize: number;
  /** Sequences per context = generations decoded together. */
  sequences: number;
  /** Requests allowed to wait for a sequence; more fail fast (DRAFT_QUEUE_FULL). */
  maxQueue: number;
  batchSize?: number;
  /** Upper bound for a request's maxTokens. */
  maxTokensLimit?: number;
  adapters?: AdapterSpec[];
  /**
   * Most distinct adapter files one model instance may load (node-llama-cpp frees adapters only with their model);
   * a swap beyond it loads a fresh model instance. Default 4.
   */
  maxAdaptersPerModel?: number;
  /** Variant serving requests that name no adapter ('' = base model). */
  activeAdapter?: string;
  flashAttention?: boolean;
  useMmap?: boolean;
  /** Keep generating past end-of-generation tokens (benchmarks on random-weight models). */
  ignoreEos?: boolean;
  /** Reuse cached prompt prefixes across requests (default true; false only to measure what reuse saves). */
  prefixReuse?: boolean;
  /**
   * Which node-llama-cpp binaries to load: 'prebuilt' (default; the npm package's portable CPU binaries) or
   * 'openmp' (a private copy of node-llama-cpp with a local OpenMP build, made by scripts/openmp-binaries.mjs; keeps
   * the decode threads alive between tokens; run with UV_THREADPOOL_SIZE=1 so every decode comes from the same
   * thread and reuses one OpenMP team).
   */
  binaries?: 'prebuilt' | 'openmp';
  /** Entry point of the OpenMP copy of node-llama-cpp; default {@link defaultOpenmpModule}. */
  openmpModule?: string;
  /** Prompt tokens evaluated per step, so a cancelled request stops between steps. Default 128. */
  promptChunk?: number;
  logger?: Logger;
}

export interface GenerateParams {
  prompt: string;
  maxTokens: number;
  stop?: readonly string[];
  temperature?: number;
  /** GBNF grammar constraining the output. */
  grammar?: string;
  /** Sampling seed; default random. */
  seed?: number;
  /** Adapter variant name; '' = the active variant. */
  adapter?: string;
  logprobs?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'grammar' | 'eos' | 'cancelled';

export interface GenerateResult {
  text: string;
  tokensGenerated: number;
  finishReason: FinishReason;
  /** Decode rate of this request: (tokens − 1) ÷ time from the first to the last token. */
  decodeTokensPerSecond: number;
  promptTokens: number;
  promptTokensEvaluated: number;
  promptTokensReused: number;
  /** From the prompt evaluation start to the first sampled token. */
  promptEvalMs: number;
  queueMs: number;
  /** Mean and lowest natural-log probability of the generated tokens (logprobs requested, ≥ 1 token). */
  meanLogprob?: number;
  minLogprob?: number;
  adapter: string;
  model: string;
}

export interface GenerateHooks {
  signal?: AbortSignal;
  /** Receives the output as it is produced; the pieces concatenate to `result.text`. */
  onText?: (piece: string) => void;
}

/** cmake options of the OpenMP local build (must match scripts/openmp-binaries.mjs). */
export const OPENMP_CMAKE_OPTIONS = { GGML_OPENMP: 'ON', GGML_NATIVE: 'ON' } as const;

type NodeLlamaCpp = typeof nodeLlamaCpp;

/**
 * Where scripts/openmp-binaries.mjs puts its private node-llama-cpp copy (same version as ours):
 * `$SARAI_LLAMA_CACHE|~/.cache/sarai-draft/nlc-openmp-<version>/node_modules/node-llama-cpp/dist/index.js`.
 */
export async function defaultOpenmpModule(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const cache =
    env['SARAI_LLAMA_CACHE'] || join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'sarai-draft');
  const version = await nodeLlamaCpp.getModuleVersion();
  return join(cache, `nlc-openmp-${version}`, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
}

/** The node-llama-cpp module for a binaries flavour (the OpenMP one lives outside node_modules). */
async function loadBindings(binaries: 'prebuilt' | 'openmp', openmpModule?: string): Promise<NodeLlamaCpp> {
  if (binaries === 'prebuilt') return nodeLlamaCpp;
  const path = openmpModule ?? (await defaultOpenmpModule());
  if (!existsSync(path)) {
    throw new DraftError(
      'DRAFT_MODEL_LOAD_FAILED',
      `LLAMA_BINARIES=openmp: ${path} does not exist; build it with nx run @sarai/skill-draft:openmp-binaries`,
    );
  }
  return (await import(pathToFileURL(path).href)) as NodeLlamaCpp;
}

/** Loads the base model file (the first instance at start, fresh ones on adapter swaps). */
async function loadModelFile(
  llama: Llama,
  options: { modelPath: string; useMmap: boolean; flashAttention: boolean },
  errors: string[],
): Promise<LlamaModel> {
  try {
    return await llama.loadModel({
      modelPath: options.modelPath,
      gpuLayers: 0,
      useMmap: options.useMmap,
      defaultContextFlashAttention: options.flashAttention,
    });
  } catch (e) {
    throw new DraftError(
      'DRAFT_MODEL_LOAD_FAILED',
      `MODEL_PATH ${options.modelPath} could not be loaded: ${(e as Error).message}${errors.length ? ` (${errors.slice(-3).join('; ')})` : ''}`,
      { cause: e },
    );
  }
}

export const REQUEST_LIMITS = {
  maxStops: 16,
  maxStopLength: 256,
  maxGrammarLength: 65_536,
  maxTemperature: 5,
} as const;

/** Grants at most `max` concurrent holders; up to `maxQueue` wait in FIFO order; more fail at once. */
class Admission {
  active = 0;
  private readonly waiters: Array<{ grant: () => void; fail: (e: unknown) => void }> = [];

  constructor(
    private readonly max: number,
    private readonly maxQueue: number,
  ) {}

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new DraftError('DRAFT_BAD_REQUEST', 'request cancelled'));
    if (this.active < this.max && this.waiters.length === 0) {
      this.active += 1;
      return Promise.resolve();
    }
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(
        new DraftError(
          'DRAFT_QUEUE_FULL',
          `draft skill is busy: ${this.active} generations running and ${this.waiters.length} queued (MAX_CONCURRENT=${this.max}, MAX_QUEUE=${this.maxQueue}); retry later`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new DraftError('DRAFT_BAD_REQUEST', 'request cancelled while queued'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.active -= 1;
  }

  failAll(e: unknown): void {
    for (const w of this.waiters.splice(0)) w.fail(e);
  }
}

/** Tokens and the text they spell, with the (token count, text length) points where both line up. */
export class TextHistory {
  readonly tokens: Token[];
  private text: string;
  /** Ascending (tokens, chars) boundaries. */
  private readonly marks: Array<{ tokens: number; chars: number }> = [];

  constructor(promptTokens: readonly Token[], prompt: string) {
    this.tokens = [...promptTokens];
    this.text = prompt;
    this.marks.push({ tokens: this.tokens.length, chars: prompt.length });
  }

  /** A generated token; `committed` = the text that became final with it ('' while a character is incomplete). */
  add(token: Token, committed: string): void {
    this.tokens.push(token);
    if (committed) {
      this.text += committed;
      this.marks.push({ tokens: this.tokens.length, chars: this.text.length });
    }
  }

  /** Text that became final without a new token (a decoder flush at the end). */
  commit(text: string): void {
    if (!text) return;
    this.text += text;
    this.marks.push({ tokens: this.tokens.length, chars: this.text.length });
  }

  /** The longest boundary whose text is a prefix of `prompt`. */
  longestTextPrefix(prompt: string): { tokens: number; chars: number } | undefined {
    for (let i = this.marks.length - 1; i >= 0; i--) {
      const m = this.marks[i] as { tokens: number; chars: number };
      if (m.chars <= prompt.length && prompt.startsWith(this.text.slice(0, m.chars))) return m;
    }
    return undefined;
  }
}

/** Longest a batch waits for the other running generations to queue their next token. */
const MAX_BATCH_WAIT_MS = 10;

/** One context (base model + one adapter set) and its sequences; replaced blue/green on adapter swaps. */
class ContextSlot {
  private readonly lastUsed = new Map<LlamaContextSequence, number>();
  private busy = 0;
  /** Generations of this slot currently waiting for a decode (queued in node-llama-cpp's batch). */
  awaiting = 0;
  /** Generations in their token loop, and those of them waiting at the step barrier. */
  private inLoop = 0;
  private arrived: Array<() => void> = [];
  private barrierTimer: NodeJS.Timeout | undefined;
  private readonly history = new Map<LlamaContextSequence, TextHistory>();
  private idleWaiters: Array<() => void> = [];
  private clock = 0;

  private readonly idle: LlamaContextSequence[] = [];
  context!: LlamaContext;

  constructor(
    readonly name: string,
    /** The adapter files this context applies (empty = the base model). */
    readonly files: AdapterSpec['files'],
  ) {}

  /** Generations holding one of this context's sequences. */
  get inFlight(): number {
    return this.busy;
  }

  attach(context: LlamaContext, sequences: LlamaContextSequence[]): void {
    this.context = context;
    this.idle.push(...sequences);
  }

  enterLoop(): void {
    this.inLoop += 1;
  }

  leaveLoop(): void {
    this.inLoop -= 1;
    this.releaseIfAllArrived();
  }

  /**
   * Step barrier: a generation that has processed its token waits here until every generation in its token loop
   * has, then they all ask for their next token in the same turn and share one llama_decode. Without it, the last
   * one sampled from a batch always misses the next (node-llama-cpp re-dispatches whatever is queued at once):
   * 2 streams would never batch and 4 would decode in threes. Waits at most {@link MAX_BATCH_WAIT_MS}.
   */
  step(): Promise<void> {
    if (this.inLoop <= 1) return Promise.resolve();
    return new Promise((resolve) => {
      this.arrived.push(resolve);
      if (!this.releaseIfAllArrived()) {
        this.barrierTimer ??= setTimeout(() => this.release(), MAX_BATCH_WAIT_MS);
      }
    });
  }

  private releaseIfAllArrived(): boolean {
    if (this.arrived.length > 0 && this.arrived.length >= this.inLoop) {
      this.release();
      return true;
    }
    return false;
  }

  private release(): void {
    if (this.barrierTimer) clearTimeout(this.barrierTimer);
    this.barrierTimer = undefined;
    for (const r of this.arrived.splice(0)) r();
  }

  /**
   * node-llama-cpp batching schedule: dispatch once every generation holding a sequence has queued its next token,
   * so they share one llama_decode (one pass over the weights), instead of whoever was sampled first going alone.
   * Never waits more than {@link MAX_BATCH_WAIT_MS} for a straggler.
   */
  scheduleDispatch(dispatch: () => void): void {
    const started = performance.now();
    const check = () => {
      if (this.awaiting >= this.busy || performance.now() - started > MAX_BATCH_WAIT_MS) dispatch();
      else setImmediate(check);
    };
    setImmediate(check);
  }

  /**
   * The idle sequence that can reuse the most of this prompt, and the prompt's tokens for it. A sequence remembers
   * the text its tokens spell (prompt + generated output): when the new prompt starts with that text, the cached
   * tokens are kept as they are and only the rest of the prompt is tokenized, so a follow-up that embeds an earlier
   * prompt and output reuses all of it even where a fresh tokenization would split the seam differently.
   */
  take(
    canonical: Token[],
    prompt: string,
    tokenizeRest: (text: string) => Token[],
  ): { seq: LlamaContextSequence; tokens: Token[]; common: number } {
    let best = -1;
    let bestCommon = -1;
    let bestTokens = canonical;
    for (let i = 0; i < this.idle.length; i++) {
      const seq = this.idle[i] as LlamaContextSequence;
      let tokens = canonical;
      const h = this.history.get(seq);
      if (h) {
        const b = h.longestTextPrefix(prompt);
        if (b && b.tokens > 0)
          tokens = [...h.tokens.slice(0, b.tokens), ...tokenizeRest(prompt.slice(b.chars))];
      }
      const common = commonPrefixLength(seq.contextTokens, tokens);
      const better =
        common > bestCommon ||
        (common === bestCommon &&
          (this.lastUsed.get(seq) ?? 0) < (this.lastUsed.get(this.idle[best] as LlamaContextSequence) ?? 0));
      if (better) {
        best = i;
        bestCommon = common;
        bestTokens = tokens;
      }
    }
    if (best < 0) throw new DraftError('DRAFT_NOT_READY', 'no free sequence (admission control out of sync)');
    const [seq] = this.idle.splice(best, 1) as [LlamaContextSequence];
    this.busy += 1;
    return { seq, tokens: bestTokens, common: bestCommon };
  }

  /** Records what a sequence's tokens spell, for text-level prefix reuse (undefined = unknown). */
  remember(seq: LlamaContextSequence, history: TextHistory | undefined): void {
    if (history) this.history.set(seq, history);
    else this.history.delete(seq);
  }

  put(seq: LlamaContextSequence): void {
    this.lastUsed.set(seq, ++this.clock);
    this.idle.push(seq);
    this.busy -= 1;
    if (this.busy === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  drained(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/**
 * One loaded copy of the base model with a context per variant. node-llama-cpp caches every adapter file a context
 * ever used on its model and frees them only with the model, so an instance takes at most
 * `maxAdaptersPerModel` distinct adapter files; the next one goes to a fresh instance (blue/green).
 */
class ModelInstance {
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
  /** Replaced contexts being drained and disposed. */
  private readonly pendingDisposals = new Set<Promise<void>>();
  private readonly modelFile: { size: number; mtimeMs: number; ino: number };
  private readonly admission: Admission;
  private readonly grammars = new Map<string, LlamaGrammar>();
  private disposed = false;
  /** Recent llama.cpp error log lines (e.g. a grammar's left recursion), attached to the next error message. */
  private errorSink: string[] = [];

  private constructor(
    readonly options: Required<Omit<EngineOptions, 'logger' | 'modelName' | 'openmpModule'>> &
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
    this.admission = new Admission(options.sequences, options.maxQueue);
  }

  /** The current model instance's model (tokenizer, metadata). */
  get model(): LlamaModel {
    return this.current.model;
  }

  private get slots(): Map<string, ContextSlot> {
    return this.current.slots;
  }

  /** Loads the model and creates a context (with its sequences) per adapter variant. */
  static async load(opts: EngineOptions): Promise<DraftEngine> {
    const options = {
      batchSize: 512,
      maxTokensLimit: Math.min(1024, opts.contextSize - 1),
      adapters: [],
      activeAdapter: '',
      flashAttention: false,
      useMmap: true,
      ignoreEos: false,
      promptChunk: 128,
      binaries: 'prebuilt' as const,
      prefixReuse: true,
      maxAdaptersPerModel: 4,
      ...opts,
    };
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
    const errors: string[] = [];
    const log = opts.logger;
    if (options.binaries === 'openmp' && process.env['UV_THREADPOOL_SIZE'] !== '1') {
      log?.warn(
        'LLAMA_BINARIES=openmp runs best with UV_THREADPOOL_SIZE=1 (one OpenMP team for all decodes)',
      );
    }
    const nlc = await loadBindings(options.binaries, opts.openmpModule);
    let llama: Llama;
    try {
      llama = await nlc.getLlama({
        gpu: false,
        maxThreads: options.threads,
        build: 'never',
        ...(options.binaries === 'openmp'
          ? { usePrebuiltBinaries: false, cmakeOptions: { ...OPENMP_CMAKE_OPTIONS } }
          : { usePrebuiltBinaries: true }),
        progressLogs: false,
        skipDownload: true,
        logLevel: LlamaLogLevel.warn,
        logger: (level, message) => {
          const line = message.trim();
          if (!line) return;
          if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) {
            errors.push(line);
            if (errors.length > 20) errors.shift();
          }
          log?.debug({ llama: level, msg: line });
        },
      });
    } catch (e) {
      throw new DraftError(
        'DRAFT_MODEL_LOAD_FAILED',
        options.binaries === 'openmp'
          ? `LLAMA_BINARIES=openmp: the OpenMP build of node-llama-cpp did not load (${(e as Error).message}); rebuild it with nx run @sarai/skill-draft:openmp-binaries`
          : `node-llama-cpp's CPU binaries could not be loaded: ${(e as Error).message}`,
        { cause: e },
      );
    }
    let model: LlamaModel;
    try {
      model = await loadModelFile(llama, options, errors);
    } catch (e) {
      await llama.dispose();
      throw e;
    }
    const general = model.fileInfo.metadata?.general as { name?: string } | undefined;
    const name = opts.modelName || general?.name || basename(options.modelPath);
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

  /** Disposes a replaced context once its generations have finished. */
  private retireSlot(instance: ModelInstance, slot: ContextSlot): void {
    const done = slot
      .drained()
      .then(async () => {
        instance.contexts.delete(slot);
        await slot.context.dispose();
      })
      .catch((e: unknown) => this.options.logger?.warn({ err: e }, 'disposing a replaced context failed'))
      .finally(() => this.pendingDisposals.delete(done));
    this.pendingDisposals.add(done);
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
   * Memory bound: node-llama-cpp frees adapters only with their model, so a model instance takes at most
   * `maxAdaptersPerModel` distinct files. A swap that would exceed it loads a fresh model instance with the base
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
    return this.admission.waiting;
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
    const cached = this.grammars.get(text);
    if (cached) {
      this.grammars.delete(text);
      this.grammars.set(text, cached);
      return cached;
    }
    const problem = checkGbnf(text);
    if (problem) throw new DraftError('DRAFT_BAD_GRAMMAR', `invalid grammar: ${problem}`);
    return this.llama.createGrammar({ grammar: text }).then(
      (g) => {
        this.grammars.set(text, g);
        if (this.grammars.size > 32) this.grammars.delete(this.grammars.keys().next().value as string);
        return g;
      },
      (e: unknown) => {
        throw new DraftError(
          'DRAFT_BAD_GRAMMAR',
          `invalid grammar: ${(e as Error).message}${this.takeErrors()}`,
        );
      },
    );
  }

  private takeErrors(): string {
    const lines = this.errorSink.splice(0);
    return lines.length ? ` (${lines.join('; ')})` : '';
  }

  /** Checks a request against the limits; throws DRAFT_BAD_REQUEST (or DRAFT_PROMPT_TOO_LONG) naming the field. */
  validate(params: GenerateParams): void {
    const bad = (m: string) => {
      throw new DraftError('DRAFT_BAD_REQUEST', m);
    };
    if (typeof params.prompt !== 'string' || params.prompt.length === 0) bad('prompt is empty');
    const limit = this.options.maxTokensLimit;
    if (!Number.isInteger(params.maxTokens) || params.maxTokens < 1 || params.maxTokens > limit) {
      bad(`max_tokens must be between 1 and ${limit}, got ${params.maxTokens}`);
    }
    const t = params.temperature ?? 0;
    if (!Number.isFinite(t) || t < 0 || t > REQUEST_LIMITS.maxTemperature) {
      bad(`temperature must be between 0 and ${REQUEST_LIMITS.maxTemperature}, got ${t}`);
    }
    const stops = params.stop ?? [];
    if (stops.length > REQUEST_LIMITS.maxStops)
      bad(`at most ${REQUEST_LIMITS.maxStops} stop strings, got ${stops.length}`);
    for (const s of stops) {
      if (s.length === 0 || s.length > REQUEST_LIMITS.maxStopLength) {
        bad(`stop strings must be 1 to ${REQUEST_LIMITS.maxStopLength} characters long`);
      }
    }
    if ((params.grammar?.length ?? 0) > REQUEST_LIMITS.maxGrammarLength) {
      bad(`grammar is longer than ${REQUEST_LIMITS.maxGrammarLength} characters`);
    }
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
    await this.admission.acquire(signal);
    const queueMs = performance.now() - queuedAt;
    const variant = params.adapter || this.active;
    const slot = this.slots.get(variant);
    if (!slot) {
      this.admission.release();
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
      return await this.run(seq, slot, useTokens, common, params, grammar, hooks, queueMs);
    } finally {
      slot.put(seq);
      this.admission.release();
    }
  }

  private async run(
    seq: LlamaContextSequence,
    slot: ContextSlot,
    tokens: Token[],
    commonIn: number,
    params: GenerateParams,
    grammar: LlamaGrammar | undefined,
    hooks: GenerateHooks,
    queueMs: number,
  ): Promise<GenerateResult> {
    const { signal, onText } = hooks;
    const model = slot.context.model;
    // Prefix reuse: keep the cached tokens shared with this prompt, evaluate only the rest (at least one token,
    // whose logits give the first output token).
    slot.remember(seq, undefined);
    const reused = Math.min(commonIn, tokens.length - 1);
    if (seq.nextTokenIndex > reused)
      await seq.eraseContextTokenRanges([{ start: reused, end: seq.nextTokenIndex }]);
    const rest = tokens.slice(reused);
    const started = performance.now();
    const chunk = this.options.promptChunk;
    let offset = 0;
    const result = (partial: Partial<GenerateResult>): GenerateResult => ({
      text: '',
      tokensGenerated: 0,
      finishReason: 'cancelled',
      decodeTokensPerSecond: 0,
      promptTokens: tokens.length,
      promptTokensEvaluated: rest.length,
      promptTokensReused: reused,
      promptEvalMs: performance.now() - started,
      queueMs,
      adapter: slot.name,
      model: this.modelName,
      ...partial,
    });
    while (rest.length - offset > chunk) {
      if (signal?.aborted) return result({});
      slot.awaiting += 1;
      try {
        await seq.evaluateWithoutGeneratingNewTokens(rest.slice(offset, offset + chunk));
      } finally {
        slot.awaiting -= 1;
      }
      offset += chunk;
    }
    if (signal?.aborted) return result({});
    const history = new TextHistory(tokens, params.prompt);
    slot.remember(seq, history);

    const temperature = params.temperature ?? 0;
    const grammarState = grammar ? new this.nlc.LlamaGrammarEvaluationState({ model, grammar }) : undefined;
    const logprobs = params.logprobs === true;
    const ignoreEos = this.options.ignoreEos && !grammarState;
    const decoder = new TokenTextDecoder((t, last) => model.detokenize(t as Token[], false, last as Token[]));
    const stops = new StopMatcher(params.stop ?? []);
    let text = '';
    const emit = (piece: string) => {
      if (!piece) return;
      text += piece;
      onText?.(piece);
    };
    let n = 0;
    let tFirst = 0;
    let tLast = 0;
    let sumLp = 0;
    let minLp = 0;
    let finish: FinishReason | undefined;
    const iterator = seq.evaluateWithMetadata(
      rest.slice(offset),
      { confidence: logprobs },
      {
        temperature,
        seed: params.seed ?? randomInt(0, 2 ** 31),
        ...(grammarState ? { grammarEvaluationState: grammarState } : {}),
        yieldEogToken: true,
      },
    );
    slot.enterLoop();
    try {
      for (let first = true; ; first = false) {
        if (!first) await slot.step();
        slot.awaiting += 1;
        let step: IteratorResult<{ token: Token; confidence?: number }>;
        try {
          step = await iterator.next();
        } finally {
          slot.awaiting -= 1;
        }
        if (step.done) break;
        const out = step.value;
        const now = performance.now();
        if (n === 0) tFirst = now;
        tLast = now;
        if (signal?.aborted) {
          finish = 'cancelled';
          break;
        }
        const token = out.token;
        if (model.isEogToken(token) && !ignoreEos) {
          finish = grammarState ? 'grammar' : 'eos';
          break;
        }
        n += 1;
        if (logprobs) {
          const lp = Math.log(Math.max((out as { confidence?: number }).confidence ?? 0, Number.MIN_VALUE));
          sumLp += lp;
          minLp = n === 1 ? lp : Math.min(minLp, lp);
        }
        const piece = decoder.push(token);
        history.add(token, piece);
        if (piece) {
          const r = stops.push(piece);
          emit(r.emit);
          if (r.stopped) {
            finish = 'stop';
            break;
          }
        }
        if (n >= params.maxTokens) {
          finish = 'length';
          break;
        }
      }
    } catch (e) {
      throw new DraftError(
        'DRAFT_NOT_READY',
        `generation failed: ${(e as Error).message}${this.takeErrors()}`,
        {
          cause: e,
        },
      );
    } finally {
      slot.leaveLoop();
      // Ends node-llama-cpp's generator (its sampler is freed); the last sampled token is not evaluated.
      await iterator.return(undefined);
    }
    finish ??= grammarState ? 'grammar' : 'eos';
    if (finish !== 'stop' && finish !== 'cancelled') {
      const flushed = decoder.flush();
      history.commit(flushed);
      const r = stops.push(flushed);
      emit(r.emit);
      if (r.stopped) finish = 'stop';
      else emit(stops.flush());
    }
    const decodeSeconds = (tLast - tFirst) / 1000;
    return result({
      text,
      tokensGenerated: n,
      finishReason: finish,
      decodeTokensPerSecond: n > 1 && decodeSeconds > 0 ? (n - 1) / decodeSeconds : 0,
      promptEvalMs: (n > 0 ? tFirst : performance.now()) - started,
      ...(logprobs && n > 0 ? { meanLogprob: sumLp / n, minLogprob: minLp } : {}),
    });
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
