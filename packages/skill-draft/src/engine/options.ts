import type { Logger } from 'pino';
import type { AdapterSpec } from '../config.js';
import { DraftError } from '../errors.js';
import type { ModelPreload } from './model-preload.js';

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
   * Most adapter files one model instance holds at a time; a swap beyond it loads a fresh model instance. Default 4.
   */
  maxAdaptersPerModel?: number;
  /**
   * Free an adapter file's weights in place once no context applies it (a replaced adapter, after its generations
   * finished), so swaps stay on the current model instead of loading a fresh one every `maxAdaptersPerModel` files.
   * Needs llama.cpp calls that never overlap (freeing edits the model's adapter list, which another context's first
   * decode reads); UV_THREADPOOL_SIZE=1 guarantees it. Default: true when UV_THREADPOOL_SIZE=1 (as in the image),
   * else false (node-llama-cpp's behaviour: adapters are freed with their model instance).
   */
  releaseAdapters?: boolean;
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
  /**
   * A base-model load started earlier (the container's main.ts starts one before importing the gRPC stack); used when
   * it loaded with these options, else disposed.
   */
  preloaded?: ModelPreload;
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

export const REQUEST_LIMITS = {
  maxStops: 16,
  maxStopLength: 256,
  maxGrammarLength: 65_536,
  maxTemperature: 5,
  /** Smallest non-zero temperature: below it 1/T overflows the sampler's logits (NaN probabilities). 0 = greedy. */
  minTemperature: 0.001,
} as const;

/** Checks a request against the limits; throws DRAFT_BAD_REQUEST naming the field and the allowed range. */
export function validateRequest(params: GenerateParams, maxTokensLimit: number): void {
  const bad = (m: string) => {
    throw new DraftError('DRAFT_BAD_REQUEST', m);
  };
  if (typeof params.prompt !== 'string' || params.prompt.length === 0) bad('prompt is empty');
  if (!Number.isInteger(params.maxTokens) || params.maxTokens < 1 || params.maxTokens > maxTokensLimit) {
    bad(`max_tokens must be between 1 and ${maxTokensLimit}, got ${params.maxTokens}`);
  }
  const t = params.temperature ?? 0;
  if (
    !Number.isFinite(t) ||
    t < 0 ||
    t > REQUEST_LIMITS.maxTemperature ||
    (t > 0 && t < REQUEST_LIMITS.minTemperature)
  ) {
    bad(
      `temperature must be 0 (greedy) or between ${REQUEST_LIMITS.minTemperature} and ${REQUEST_LIMITS.maxTemperature}, got ${t}`,
    );
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
}
