import { availableParallelism } from 'node:os';
import { TrainerError } from '../errors.js';
import {
  DEFAULT_TARGETS,
  TRAINABLE_TARGETS,
  type TrainHyperParameters,
  type TrainLoraOptions,
} from './types.js';

/** llama.cpp pads n_ctx to a multiple of this. */
const CONTEXT_PADDING = 256;
/** Hyper-parameters with defaults applied, validated (TRAINER_INVALID_OPTIONS says which and why). */
export function resolveHyperParameters(o: TrainLoraOptions): TrainHyperParameters {
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
