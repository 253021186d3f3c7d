import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
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
  private onIdle: (() => void) | undefined;
  private clock = 0;

  private readonly idle: LlamaContextSequence[] = [];
  context!: LlamaContext;

  constructor(readonly name: string) {}

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
    if (this.busy === 0) this.onIdle?.();
  }

  drained(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onIdle = resolve));
  }
}

/**
 * The draft model: one loaded GGUF shared by several sequences with batched decoding, admission control with a
 * bounded queue, prefix reuse across requests, grammars, stop strings, log-probabilities and LoRA variants.
 */
export class DraftEngine {
  readonly modelName: string;
  private readonly slots = new Map<string, ContextSlot>();
  private readonly admission: Admission;
  private readonly grammars = new Map<string, LlamaGrammar>();
  private disposed = false;
  /** Recent llama.cpp error log lines (e.g. a grammar's left recursion), attached to the next error message. */
  private errorSink: string[] = [];

  private constructor(
    readonly options: Required<Omit<EngineOptions, 'logger' | 'modelName' | 'openmpModule'>> &
      Pick<EngineOptions, 'logger' | 'openmpModule'>,
    readonly llama: Llama,
    readonly model: LlamaModel,
    modelName: string,
    private readonly nlc: NodeLlamaCpp,
  ) {
    this.modelName = modelName;
    this.admission = new Admission(options.sequences, options.maxQueue);
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
      ...opts,
    };
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
      model = await llama.loadModel({
        modelPath: options.modelPath,
        gpuLayers: 0,
        useMmap: options.useMmap,
        defaultContextFlashAttention: options.flashAttention,
      });
    } catch (e) {
      await llama.dispose();
      throw new DraftError(
        'DRAFT_MODEL_LOAD_FAILED',
        `MODEL_PATH ${options.modelPath} could not be loaded: ${(e as Error).message}${errors.length ? ` (${errors.slice(-3).join('; ')})` : ''}`,
        { cause: e },
      );
    }
    const general = model.fileInfo.metadata?.general as { name?: string } | undefined;
    const name = opts.modelName || general?.name || basename(options.modelPath);
    const engine = new DraftEngine(options, llama, model, name, nlc);
    errors.length = 0;
    engine.errorSink = errors;
    try {
      await engine.addSlot('', []);
      for (const a of options.adapters) await engine.addSlot(a.name, a.files);
    } catch (e) {
      await engine.dispose();
      throw e;
    }
    return engine;
  }

  private async createSlot(name: string, files: AdapterSpec['files']): Promise<ContextSlot> {
    const slot = new ContextSlot(name);
    let context: LlamaContext;
    try {
      context = await this.model.createContext({
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
        `${name ? `ADAPTERS: variant "${name}"` : 'context'} could not be created: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const seqs: LlamaContextSequence[] = [];
    for (let i = 0; i < this.options.sequences; i++) seqs.push(context.getSequence());
    slot.attach(context, seqs);
    return slot;
  }

  private async addSlot(name: string, files: AdapterSpec['files']): Promise<void> {
    this.slots.set(name, await this.createSlot(name, files));
  }

  /**
   * Blue/green adapter swap: builds a new context with `files` for variant `name` (new or existing), routes new
   * requests to it at once, and disposes the old context after its in-flight generations finish.
   * Adapters are cached per model by file path: give every new adapter version a new file name.
   */
  async setAdapter(name: string, files: AdapterSpec['files']): Promise<void> {
    for (const f of files) {
      if (!existsSync(f.path))
        throw new DraftError('DRAFT_UNKNOWN_ADAPTER', `adapter file ${f.path} does not exist`);
    }
    const green = await this.createSlot(name, files);
    const blue = this.slots.get(name);
    this.slots.set(name, green);
    if (blue) {
      await blue.drained();
      await blue.context.dispose();
    }
  }

  /** Names of the variants (the base model is ''). */
  get variants(): string[] {
    return [...this.slots.keys()];
  }

  get activeAdapter(): string {
    return this.options.activeAdapter;
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
    if (adapter && !this.slots.has(adapter)) {
      throw new DraftError(
        'DRAFT_UNKNOWN_ADAPTER',
        `adapter "${adapter}" is not loaded (available: ${this.variants.filter(Boolean).join(', ') || 'none'})`,
      );
    }
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
    const variant = params.adapter || this.options.activeAdapter;
    const slot = this.slots.get(variant);
    if (!slot) {
      this.admission.release();
      throw new DraftError('DRAFT_UNKNOWN_ADAPTER', `adapter "${variant}" is not loaded`);
    }
    const picked = slot.take(tokens, params.prompt, (text) => this.model.tokenize(text, true));
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
    const model = this.model;
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
    for (const slot of this.slots.values()) await slot.context.dispose().catch(() => undefined);
    await this.model.dispose().catch(() => undefined);
    await this.llama.dispose().catch(() => undefined);
  }
}
