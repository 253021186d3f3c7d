import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as koffi from 'koffi';
import type { Logger } from 'pino';
import { chatmlGlue, glueFromRendering, type ChatGlue } from './chat.js';
import { TrainerError, errorMessage } from './errors.js';
import { adapterTensors, type AdapterTensor } from './ffi/adapter-internals.js';
import { callAsync, loadLlamaLibrary, type LlamaLibrary, type Ptr } from './ffi/library.js';
import {
  FLASH_ATTN_DISABLED,
  OPTIMIZER_TYPE,
  OptEpochCallback,
  OptParamFilter,
  SchedEvalCallback,
} from './ffi/structs.js';
import { sha256File, writeFileExclusive } from './files.js';
import {
  GGML_TYPE,
  encodeGguf,
  metaNumber,
  metaString,
  readGgufHeader,
  type GgufWriteTensor,
  type GgufWriteValue,
} from './gguf.js';
import { createProgressReporter, type ProgressReporter } from './progress.js';

/** Per-block weights a LoRA adapter can train here (see DEFAULT_TARGETS for why attn_k / attn_v are absent). */
export const TRAINABLE_TARGETS = ['attn_q', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;
export type LoraTarget = (typeof TRAINABLE_TARGETS)[number];
/**
 * q, o and the FFN. llama.cpp's training graph has no backward pass for the KV-cache write, so LoRA factors on
 * attn_k / attn_v would never receive a gradient; token_embd is skipped by llama_opt_init.
 */
export const DEFAULT_TARGETS: readonly LoraTarget[] = TRAINABLE_TARGETS;

export interface ChatPair {
  prompt: string;
  answer: string;
}

export interface TrainHyperParameters {
  /** LoRA rank r (default 8). */
  rank: number;
  /** LoRA alpha; the update is scaled by alpha / rank (default 2 × rank). */
  alpha: number;
  targets: LoraTarget[];
  /** Peak AdamW/SGD learning rate (default 1e-3). */
  learningRate: number;
  /** Learning rate at the last step; linear decay from `learningRate` (default: constant). */
  learningRateMin: number;
  weightDecay: number;
  optimizer: 'adamw' | 'sgd';
  epochs: number;
  /** Tokens per training row, rounded up to a multiple of 256 as llama.cpp pads contexts (default 256). */
  contextSize: number;
  threads: number;
  /** Seeds the A-matrix initialisation and the per-epoch row order. */
  seed: number;
  systemPrompt: string | null;
}

export interface TrainProgress {
  phase: 'eval-before' | 'train' | 'eval-after';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Running mean loss of the current pass. */
  loss: number;
  tokensPerSecond: number;
}

export interface TrainLoraOptions extends Partial<Omit<TrainHyperParameters, 'systemPrompt'>> {
  baseModelPath: string;
  train: readonly ChatPair[];
  /** Held-out pairs; when empty the eval loss is computed on the training pairs. */
  eval: readonly ChatPair[];
  /** Where the adapter goes; written atomically and never over an existing file. */
  adapterPath: string;
  systemPrompt?: string;
  /** Extra string metadata stored in the adapter GGUF (keys are prefixed with `sarai.`). */
  adapterMetadata?: Record<string, string>;
  /** A cli-progress bar on stderr (default: when stderr is a TTY), or false. */
  progressBar?: boolean;
  onProgress?: (progress: TrainProgress) => void;
  logger?: Logger;
  signal?: AbortSignal;
  /** Directory for scratch files (initial adapter); default the OS temp dir. */
  scratchDir?: string;
  /** Library to use (tests); default the bundled one. */
  library?: LlamaLibrary;
}

export interface TrainLoraResult {
  adapterPath: string;
  adapterSha256: string;
  adapterBytes: number;
  architecture: string;
  hyperParameters: TrainHyperParameters;
  losses: { evalBefore: number; evalAfter: number; trainPerEpoch: number[] };
  tokens: { train: number; eval: number; trainRows: number; evalRows: number; contextSize: number };
  /** Training tokens processed per second (forward + backward + optimizer), over all epochs. */
  trainTokensPerSecond: number;
  /** Forward-only tokens per second of the final evaluation pass: the baseline for the training speed. */
  evalTokensPerSecond: number;
  durationMs: number;
  template: ChatGlue['source'];
  llamaVersion: string;
  graph: { forwardNodes: number; budget: number; budgetAdapters: number };
  trainableParameters: number;
}

const CONTEXT_PADDING = 256;
/** Training graph nodes per forward node, measured 2.3 on the tiny model; a margin on top. */
const GRAPH_FACTOR = 3;
const GRAPH_MARGIN = 512;

function resolveHyperParameters(o: TrainLoraOptions): TrainHyperParameters {
  const rank = o.rank ?? 8;
  const hp: TrainHyperParameters = {
    rank,
    alpha: o.alpha ?? 2 * rank,
    targets: [...(o.targets ?? DEFAULT_TARGETS)],
    learningRate: o.learningRate ?? 1e-3,
    learningRateMin: o.learningRateMin ?? o.learningRate ?? 1e-3,
    weightDecay: o.weightDecay ?? 0,
    optimizer: o.optimizer ?? 'adamw',
    epochs: o.epochs ?? 3,
    contextSize: o.contextSize ?? 256,
    threads: o.threads ?? availableParallelism(),
    seed: o.seed ?? 42,
    systemPrompt: o.systemPrompt ?? null,
  };
  const bad = (why: string): never => {
    throw new TrainerError('TRAINER_INVALID_OPTIONS', why);
  };
  if (!Number.isInteger(hp.rank) || hp.rank < 1 || hp.rank > 1024)
    bad(`rank must be an integer in [1, 1024], got ${hp.rank}`);
  if (!(hp.alpha > 0) || !Number.isFinite(hp.alpha)) bad(`alpha must be > 0, got ${hp.alpha}`);
  if (!(hp.learningRate > 0 && hp.learningRate < 1))
    bad(`learningRate must be in (0, 1), got ${hp.learningRate}`);
  if (!(hp.learningRateMin >= 0 && hp.learningRateMin <= hp.learningRate)) {
    bad(`learningRateMin must be in [0, learningRate], got ${hp.learningRateMin}`);
  }
  if (!(hp.weightDecay >= 0 && hp.weightDecay < 1))
    bad(`weightDecay must be in [0, 1), got ${hp.weightDecay}`);
  if (!Number.isInteger(hp.epochs) || hp.epochs < 1 || hp.epochs > 1000)
    bad(`epochs must be an integer in [1, 1000], got ${hp.epochs}`);
  if (!Number.isInteger(hp.contextSize) || hp.contextSize < 16 || hp.contextSize > 8192) {
    bad(`contextSize must be an integer in [16, 8192], got ${hp.contextSize}`);
  }
  if (!Number.isInteger(hp.threads) || hp.threads < 1 || hp.threads > 256)
    bad(`threads must be an integer in [1, 256], got ${hp.threads}`);
  if (hp.optimizer !== 'adamw' && hp.optimizer !== 'sgd')
    bad(`optimizer must be adamw or sgd, got ${String(hp.optimizer)}`);
  if (hp.targets.length === 0) bad('targets must not be empty');
  for (const t of hp.targets) {
    if (!(TRAINABLE_TARGETS as readonly string[]).includes(t)) {
      bad(
        `target "${t}" cannot be trained here (trainable: ${TRAINABLE_TARGETS.join(', ')}; attn_k/attn_v get no gradient through llama.cpp's KV-cache write)`,
      );
    }
  }
  hp.targets = [...new Set(hp.targets)];
  // llama.cpp pads n_ctx to a multiple of 256 but keeps n_batch at the requested size, and llama_opt_init asserts
  // (aborting the process) unless n_ctx is a multiple of n_batch: use the padded size for both.
  hp.contextSize = Math.ceil(hp.contextSize / CONTEXT_PADDING) * CONTEXT_PADDING;
  return hp;
}

/** Mulberry32: small seeded PRNG for the A initialisation and row shuffles. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], rnd: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Cuts a token stream into training rows of `nCtx + 1` tokens (inputs + shifted labels). Streams shorter than one
 * row are repeated; a tail that does not fill a row becomes a last row ending at the stream's end.
 */
export function packRows(stream: readonly number[], nCtx: number): number[][] {
  if (stream.length === 0) return [];
  let s = [...stream];
  if (s.length < nCtx + 1) {
    while (s.length < nCtx + 1) s = s.concat(stream);
    s = s.slice(0, nCtx + 1);
  }
  const rows: number[][] = [];
  let start = 0;
  for (; start + nCtx + 1 <= s.length; start += nCtx) rows.push(s.slice(start, start + nCtx + 1));
  if (start < s.length - 1) rows.push(s.slice(s.length - nCtx - 1));
  return rows;
}

/** One LoRA pair to create: base tensor and its (n_in, n_out). */
interface TargetTensor {
  base: string;
  nIn: number;
  nOut: number;
}

function targetTensors(
  modelPath: string,
  targets: readonly string[],
): { architecture: string; pairs: TargetTensor[]; nTensors: number; all2d: TargetTensor[] } {
  const header = readGgufHeader(modelPath);
  const architecture = metaString(header, 'general.architecture');
  if (architecture === undefined)
    throw new TrainerError('TRAINER_MODEL_LOAD_FAILED', `${modelPath} has no general.architecture`);
  const blocks = metaNumber(header, `${architecture}.block_count`) ?? 0;
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const pairs: TargetTensor[] = [];
  const all2d: TargetTensor[] = [];
  for (let b = 0; b < blocks; b++) {
    for (const kind of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']) {
      const t = byName.get(`blk.${b}.${kind}.weight`);
      if (t && t.ne.length === 2)
        all2d.push({ base: t.name, nIn: t.ne[0] as number, nOut: t.ne[1] as number });
    }
    for (const target of targets) {
      const t = byName.get(`blk.${b}.${target}.weight`);
      if (t && t.ne.length === 2)
        pairs.push({ base: t.name, nIn: t.ne[0] as number, nOut: t.ne[1] as number });
    }
  }
  for (const target of targets) {
    if (!pairs.some((p) => p.base.endsWith(`.${target}.weight`))) {
      throw new TrainerError(
        'TRAINER_TARGET_NOT_FOUND',
        `the base model has no 2-D blk.N.${target}.weight tensor`,
      );
    }
  }
  return { architecture, pairs, nTensors: header.tensors.length, all2d };
}

function adapterFileTensors(
  pairs: readonly TargetTensor[],
  rank: number,
  rnd: (() => number) | null,
): GgufWriteTensor[] {
  const tensors: GgufWriteTensor[] = [];
  for (const p of pairs) {
    // PEFT's default: A ~ U(-1/sqrt(n_in), 1/sqrt(n_in)), B = 0, so the adapter starts as an exact no-op.
    const a = new Float32Array(p.nIn * rank);
    if (rnd) {
      const bound = 1 / Math.sqrt(p.nIn);
      for (let i = 0; i < a.length; i++) a[i] = (rnd() * 2 - 1) * bound;
    }
    tensors.push({ name: `${p.base}.lora_a`, ne: [p.nIn, rank], data: a });
    tensors.push({ name: `${p.base}.lora_b`, ne: [rank, p.nOut], data: new Float32Array(rank * p.nOut) });
  }
  return tensors;
}

function adapterMetadata(
  architecture: string,
  alpha: number,
  extra: Record<string, string> = {},
): Array<[string, GgufWriteValue]> {
  return [
    ['general.architecture', { type: 'string', value: architecture }],
    ['general.type', { type: 'string', value: 'adapter' }],
    ['general.name', { type: 'string', value: 'sarai-lora' }],
    ['adapter.type', { type: 'string', value: 'lora' }],
    ['adapter.lora.alpha', { type: 'f32', value: alpha }],
    ...Object.entries(extra).map(([k, v]): [string, GgufWriteValue] => [
      `sarai.${k}`,
      { type: 'string', value: v },
    ]),
  ];
}

/** Owns every native resource of one run; `close()` frees them in reverse order. */
class Session {
  private readonly cleanups: Array<() => void | Promise<void>> = [];
  defer(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }
  async close(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
  }
}

/**
 * Trains a LoRA adapter on a frozen GGUF base with llama.cpp's own optimizer (llama_opt_init / llama_opt_epoch):
 * the base weights stay untouched (and may stay quantized); only the adapter's A and B matrices are trainable.
 * Reports the eval loss before and after, writes the adapter GGUF atomically to `adapterPath`.
 */
export async function trainLora(options: TrainLoraOptions): Promise<TrainLoraResult> {
  const started = performance.now();
  const hp = resolveHyperParameters(options);
  if (options.train.length === 0) throw new TrainerError('TRAINER_EMPTY_DATASET', 'no training pairs');
  const { logger, signal } = options;
  const lib = options.library ?? loadLlamaLibrary();
  lib.setLogger(logger);
  const { fn } = lib;
  const checkAbort = (): void => {
    if (signal?.aborted) throw new TrainerError('TRAINER_ABORTED', 'training was aborted');
  };
  const nativeError = (code: ConstructorParameters<typeof TrainerError>[0], what: string): TrainerError => {
    const recent = lib.recentErrors().slice(-3);
    return new TrainerError(code, `${what}${recent.length > 0 ? `: ${recent.join(' | ')}` : ''}`);
  };

  const { architecture, pairs, nTensors, all2d } = targetTensors(options.baseModelPath, hp.targets);
  const session = new Session();
  const scratch = await mkdtemp(join(options.scratchDir ?? tmpdir(), 'sarai-lora-'));
  session.defer(() => rm(scratch, { recursive: true, force: true }));
  const progress: ProgressReporter = createProgressReporter(
    options.progressBar ?? process.stderr.isTTY === true,
  );
  session.defer(() => progress.stop());
  try {
    checkAbort();
    // ---- model (frozen; repacked layouts have no backward pass) ----
    const mparams = fn.llama_model_default_params();
    mparams.n_gpu_layers = 0;
    mparams.use_extra_bufts = false;
    const model = await callAsync(fn.llama_model_load_from_file, options.baseModelPath, mparams);
    if (model === null)
      throw nativeError('TRAINER_MODEL_LOAD_FAILED', `cannot load ${options.baseModelPath}`);
    session.defer(() => fn.llama_model_free(model)); // also frees every adapter loaded on it
    const vocab = fn.llama_model_get_vocab(model);

    // ---- zero-initialised adapter, loaded by llama.cpp itself ----
    const rnd = prng(hp.seed);
    const initTensors = adapterFileTensors(pairs, hp.rank, rnd);
    const initPath = join(scratch, 'init.gguf');
    await writeFile(initPath, encodeGguf(adapterMetadata(architecture, hp.alpha), initTensors));
    const adapter = fn.llama_adapter_lora_init(model, initPath);
    if (adapter === null)
      throw nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'llama.cpp rejected the initial adapter');
    const expected = new Map(initTensors.map((t) => [t.name, t.ne]));
    const tensors = adapterTensors(fn, adapter, model, hp.alpha, expected);
    const trainableParameters = initTensors.reduce((n, t) => n + t.data.length, 0);

    const contextParams = (withEvalCounter: Ptr | null) => {
      const p = fn.llama_context_default_params();
      Object.assign(p, {
        n_ctx: hp.contextSize,
        n_batch: hp.contextSize,
        n_ubatch: hp.contextSize,
        n_seq_max: 1,
        n_threads: hp.threads,
        n_threads_batch: hp.threads,
        // OUT_PROD has no F16 support, and FLASH_ATTN_EXT no backward pass.
        type_k: GGML_TYPE.F32,
        type_v: GGML_TYPE.F32,
        flash_attn_type: FLASH_ATTN_DISABLED,
        no_perf: true,
        cb_eval: withEvalCounter,
      });
      return p;
    };
    const scales = new Float32Array([1]);
    const warmTokens = koffi.alloc('int32_t', 8) as Ptr;
    session.defer(() => koffi.free(warmTokens));
    koffi.encode(warmTokens, 'int32_t', [0, 1, 2, 3, 4, 5, 6, 7], 8);

    // ---- graph budget: llama.cpp sizes its graphs from the number of adapters registered on the model; a
    // backward graph that outgrows it aborts the process, so measure the forward graph and add headroom first.
    let forwardNodes = 0;
    const counter = koffi.register((_t: Ptr, ask: boolean) => {
      if (ask) forwardNodes++;
      return !ask;
    }, koffi.pointer(SchedEvalCallback));
    try {
      const probe = fn.llama_init_from_model(model, contextParams(counter));
      if (probe === null) throw nativeError('TRAINER_CONTEXT_FAILED', 'cannot create a llama context');
      try {
        if (fn.llama_set_adapters_lora(probe, [adapter], 1, scales) !== 0) {
          throw nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'cannot attach the adapter');
        }
        const rc = await callAsync(fn.llama_decode, probe, fn.llama_batch_get_one(warmTokens, 8));
        if (rc !== 0) throw nativeError('TRAINER_DECODE_FAILED', `llama_decode returned ${rc}`);
      } finally {
        fn.llama_free(probe);
      }
    } finally {
      koffi.unregister(counter);
    }
    const required = GRAPH_FACTOR * forwardNodes + GRAPH_MARGIN;
    let budget = Math.max(1024, 8 * nTensors) + 6 * pairs.length;
    let budgetAdapters = 0;
    if (budget < required) {
      // Rank-1 adapters over every block weight: cheap in memory, 6 graph nodes per pair each. Never attached.
      const budgetPath = join(scratch, 'budget.gguf');
      await writeFile(
        budgetPath,
        encodeGguf(adapterMetadata(architecture, 1), adapterFileTensors(all2d, 1, null)),
      );
      while (budget < required) {
        if (fn.llama_adapter_lora_init(model, budgetPath) === null) {
          throw nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'cannot load a graph-budget adapter');
        }
        budget += 6 * all2d.length;
        budgetAdapters++;
      }
    }
    logger?.debug({ event: 'graph-budget', forwardNodes, required, budget, budgetAdapters }, 'graph budget');

    // ---- training context ----
    const ctx = fn.llama_init_from_model(model, contextParams(null));
    if (ctx === null) throw nativeError('TRAINER_CONTEXT_FAILED', 'cannot create a llama context');
    session.defer(() => fn.llama_free(ctx));
    const nCtx = fn.llama_n_ctx(ctx);
    if (nCtx !== hp.contextSize) {
      throw new TrainerError(
        'TRAINER_CONTEXT_FAILED',
        `llama.cpp made a ${nCtx}-token context, ${hp.contextSize} was asked`,
      );
    }
    if (fn.llama_set_adapters_lora(ctx, [adapter], 1, scales) !== 0) {
      throw nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'cannot attach the adapter');
    }
    for (const t of tensors.values()) fn.ggml_set_param(t.ptr);

    // ---- data: chat template parts tokenized with special tokens, contents without (no injected control tokens)
    const glue = chatGlue(lib, model, options.systemPrompt);
    const tokenize = (text: string, special: boolean): number[] => {
      if (text === '') return [];
      let out = new Int32Array(Buffer.byteLength(text, 'utf8') + 16);
      let n = fn.llama_tokenize(
        vocab,
        text,
        Buffer.byteLength(text, 'utf8'),
        out,
        out.length,
        false,
        special,
      );
      if (n < 0) {
        out = new Int32Array(-n);
        n = fn.llama_tokenize(vocab, text, Buffer.byteLength(text, 'utf8'), out, out.length, false, special);
      }
      if (n < 0) throw new TrainerError('TRAINER_TOKENIZE_FAILED', 'llama_tokenize failed');
      return Array.from(out.subarray(0, n));
    };
    const streamOf = (pairsIn: readonly ChatPair[]): number[] =>
      pairsIn.flatMap((p) => [
        ...tokenize(glue.beforePrompt, true),
        ...tokenize(p.prompt, false),
        ...tokenize(glue.beforeAnswer, true),
        ...tokenize(p.answer, false),
        ...tokenize(glue.afterAnswer, true),
      ]);
    const trainStream = streamOf(options.train);
    const evalPairs = options.eval.length > 0 ? options.eval : options.train;
    const evalStream = streamOf(evalPairs);
    const trainRows = packRows(trainStream, nCtx);
    const evalRows = packRows(evalStream, nCtx);
    const makeDataset = (rows: number): { ds: Ptr; data: Int32Array; labels: Int32Array } => {
      const ds = fn.ggml_opt_dataset_init(GGML_TYPE.I32, GGML_TYPE.I32, nCtx, nCtx, rows, 1);
      if (ds === null) throw nativeError('TRAINER_TRAINING_FAILED', 'cannot allocate the dataset');
      session.defer(() => fn.ggml_opt_dataset_free(ds));
      const view = (t: Ptr): Int32Array => {
        const p = fn.ggml_get_data(t);
        if (p === null || fn.ggml_nbytes(t) !== rows * nCtx * 4)
          throw nativeError('TRAINER_TRAINING_FAILED', 'unexpected dataset tensor');
        return new Int32Array(koffi.view(p, rows * nCtx * 4));
      };
      return { ds, data: view(fn.ggml_opt_dataset_data(ds)), labels: view(fn.ggml_opt_dataset_labels(ds)) };
    };
    const fill = (target: { data: Int32Array; labels: Int32Array }, rows: readonly number[][]): void => {
      rows.forEach((row, r) => {
        target.data.set(row.slice(0, nCtx), r * nCtx);
        target.labels.set(row.slice(1, nCtx + 1), r * nCtx);
      });
    };
    const trainDs = makeDataset(trainRows.length);
    const evalDs = makeDataset(evalRows.length);
    fill(evalDs, evalRows);

    // ---- optimizer: llama.cpp's thread pool is only set up by a first decode ----
    const warm = await callAsync(fn.llama_decode, ctx, fn.llama_batch_get_one(warmTokens, 8));
    if (warm !== 0) throw nativeError('TRAINER_DECODE_FAILED', `llama_decode returned ${warm}`);
    fn.llama_memory_clear(fn.llama_get_memory(ctx), true);

    const optParams = koffi.alloc('float', 7) as Ptr;
    session.defer(() => koffi.free(optParams));
    const setLearningRate = (lr: number): void => {
      koffi.encode(optParams, 'float', [lr, 0.9, 0.999, 1e-8, hp.weightDecay, lr, hp.weightDecay], 7);
    };
    setLearningRate(hp.learningRate);
    const filterTag = koffi.alloc('uint64_t', 1) as Ptr;
    session.defer(() => koffi.free(filterTag));
    let filterCalls = 0;
    let filterTagSeen = true;
    const filter = koffi.register((_t: Ptr, ud: Ptr | null) => {
      filterCalls++;
      if (ud !== filterTag) filterTagSeen = false;
      return false; // the base model stays frozen: only the adapter tensors (marked above) are trained
    }, koffi.pointer(OptParamFilter));
    session.defer(() => koffi.unregister(filter));
    fn.llama_opt_init(ctx, model, {
      n_ctx_train: nCtx,
      param_filter: filter,
      param_filter_ud: filterTag,
      get_opt_pars: lib.constantOptimizerParams,
      get_opt_pars_ud: optParams,
      optimizer_type: OPTIMIZER_TYPE[hp.optimizer],
    });
    if (!filterTagSeen || filterCalls === 0 || fn.llama_model_n_ctx_train(model) !== nCtx) {
      throw new TrainerError(
        'TRAINER_ABI_MISMATCH',
        `llama_opt_params was not read as declared (filter calls ${filterCalls}, userdata ${filterTagSeen ? 'ok' : 'wrong'}, n_ctx_train ${fn.llama_model_n_ctx_train(model)} vs ${nCtx})`,
      );
    }

    // ---- passes ----
    const rTrain = fn.ggml_opt_result_init();
    session.defer(() => fn.ggml_opt_result_free(rTrain));
    const rEval = fn.ggml_opt_result_init();
    session.defer(() => fn.ggml_opt_result_free(rEval));
    const lossOf = (r: Ptr): number => {
      const loss = [0];
      const unc = [0];
      fn.ggml_opt_result_loss(r, loss, unc);
      return loss[0] as number;
    };
    let state: { phase: TrainProgress['phase']; epoch: number; t0: number } = {
      phase: 'eval-before',
      epoch: 0,
      t0: 0,
    };
    let optimizerTypeSeen: number | null = null;
    const totalSteps = trainRows.length * hp.epochs;
    let globalStep = 0;
    const onBatch = (
      train: boolean,
      opt: Ptr,
      _ds: Ptr,
      result: Ptr,
      ibatch: number | bigint,
      ibatchMax: number | bigint,
    ): void => {
      if (optimizerTypeSeen === null) optimizerTypeSeen = fn.ggml_opt_context_optimizer_type(opt);
      const step = Number(ibatch);
      const steps = Number(ibatchMax);
      if (train) {
        globalStep++;
        const frac = Math.min(1, globalStep / totalSteps);
        setLearningRate(hp.learningRate + (hp.learningRateMin - hp.learningRate) * frac);
      }
      const seconds = (performance.now() - state.t0) / 1000;
      const p: TrainProgress = {
        phase: state.phase,
        epoch: state.epoch,
        epochs: hp.epochs,
        step,
        steps,
        loss: lossOf(result),
        tokensPerSecond: seconds > 0 ? (step * nCtx) / seconds : 0,
      };
      progress.update(p);
      options.onProgress?.(p);
    };
    const epochCallback = koffi.register(onBatch, koffi.pointer(OptEpochCallback));
    session.defer(() => koffi.unregister(epochCallback));

    const evaluate = async (
      phase: 'eval-before' | 'eval-after',
    ): Promise<{ loss: number; seconds: number }> => {
      checkAbort();
      state = { phase, epoch: 0, t0: performance.now() };
      fn.ggml_opt_result_reset(rEval);
      progress.start(phase, evalRows.length);
      await callAsync(fn.llama_opt_epoch, ctx, evalDs.ds, rTrain, rEval, 0, null, epochCallback);
      progress.finish();
      const seconds = (performance.now() - state.t0) / 1000;
      if (optimizerTypeSeen !== OPTIMIZER_TYPE[hp.optimizer]) {
        throw new TrainerError(
          'TRAINER_ABI_MISMATCH',
          `llama_opt_params.optimizer_type reads ${optimizerTypeSeen}, ${OPTIMIZER_TYPE[hp.optimizer]} was passed`,
        );
      }
      const loss = lossOf(rEval);
      if (!Number.isFinite(loss))
        throw new TrainerError('TRAINER_TRAINING_FAILED', `${phase} loss is ${loss}`);
      return { loss, seconds };
    };

    const before = await evaluate('eval-before');
    logger?.info(
      { event: 'eval-before', loss: before.loss, rows: evalRows.length },
      'eval loss before training',
    );
    const trainPerEpoch: number[] = [];
    const shuffle = prng(hp.seed ^ 0x5eed);
    let trainSeconds = 0;
    for (let epoch = 1; epoch <= hp.epochs; epoch++) {
      checkAbort();
      fill(trainDs, shuffled(trainRows, shuffle));
      fn.ggml_opt_result_reset(rTrain);
      state = { phase: 'train', epoch, t0: performance.now() };
      progress.start(`epoch ${epoch}/${hp.epochs}`, trainRows.length);
      await callAsync(
        fn.llama_opt_epoch,
        ctx,
        trainDs.ds,
        rTrain,
        rEval,
        trainRows.length,
        epochCallback,
        null,
      );
      progress.finish();
      trainSeconds += (performance.now() - state.t0) / 1000;
      const loss = lossOf(rTrain);
      if (!Number.isFinite(loss))
        throw new TrainerError('TRAINER_TRAINING_FAILED', `epoch ${epoch} train loss is ${loss}`);
      trainPerEpoch.push(loss);
      logger?.info(
        { event: 'epoch', epoch, epochs: hp.epochs, loss },
        `epoch ${epoch}/${hp.epochs} train loss ${loss.toFixed(4)}`,
      );
    }
    const after = await evaluate('eval-after');
    logger?.info({ event: 'eval-after', loss: after.loss }, 'eval loss after training');

    // ---- read the trained factors back and write the adapter ----
    const trained: GgufWriteTensor[] = initTensors.map((t) => {
      const info = tensors.get(t.name) as AdapterTensor;
      const data = new Float32Array(t.data.length);
      fn.ggml_backend_tensor_get(info.ptr, data, 0, data.byteLength);
      for (const v of data)
        if (!Number.isFinite(v))
          throw new TrainerError('TRAINER_TRAINING_FAILED', `${t.name} holds non-finite values`);
      return { name: t.name, ne: t.ne, data };
    });
    const adapterBytes = encodeGguf(
      adapterMetadata(architecture, hp.alpha, options.adapterMetadata),
      trained,
    );
    await writeFileExclusive(options.adapterPath, adapterBytes);
    const size = (await stat(options.adapterPath)).size;
    return {
      adapterPath: options.adapterPath,
      adapterSha256: await sha256File(options.adapterPath),
      adapterBytes: size,
      architecture,
      hyperParameters: hp,
      losses: { evalBefore: before.loss, evalAfter: after.loss, trainPerEpoch },
      tokens: {
        train: trainStream.length,
        eval: evalStream.length,
        trainRows: trainRows.length,
        evalRows: evalRows.length,
        contextSize: nCtx,
      },
      trainTokensPerSecond: (trainRows.length * nCtx * hp.epochs) / trainSeconds,
      evalTokensPerSecond: (evalRows.length * nCtx) / after.seconds,
      durationMs: performance.now() - started,
      template: glue.source,
      llamaVersion: lib.version,
      graph: { forwardNodes, budget, budgetAdapters },
      trainableParameters,
    };
  } catch (error) {
    if (error instanceof TrainerError) throw error;
    throw new TrainerError('TRAINER_TRAINING_FAILED', `training failed: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    await session.close();
  }
}

/** The glue of the model's own chat template (llama_chat_apply_template), or ChatML when the model has none. */
export function chatGlue(lib: LlamaLibrary, model: Ptr, systemPrompt?: string): ChatGlue {
  const template = lib.fn.llama_model_chat_template(model, null);
  if (template === null || template === '') return chatmlGlue(systemPrompt);
  return glueFromRendering((messages) => {
    let buf = Buffer.alloc(4096);
    let n = lib.fn.llama_chat_apply_template(template, messages, messages.length, false, buf, buf.length);
    if (n > buf.length) {
      buf = Buffer.alloc(n);
      n = lib.fn.llama_chat_apply_template(template, messages, messages.length, false, buf, buf.length);
    }
    if (n < 0)
      throw new TrainerError('TRAINER_TOKENIZE_FAILED', 'llama.cpp does not know the model chat template');
    return buf.toString('utf8', 0, n);
  }, systemPrompt);
}
