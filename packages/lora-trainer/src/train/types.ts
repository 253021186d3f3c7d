import type { Logger } from 'pino';
import type { ChatGlue } from '../chat.js';
import type { LlamaLibrary } from '../ffi/library.js';

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
