import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ADAPTER_REJECT_REASONS, type AdapterRejectReason } from './adapter-reject-reasons.js';
import type { EngineStats, GenerateResult } from './engine.js';

/** Draft-specific metrics, next to skill-runtime's request counts, latency, in-flight and RSS. */
export interface DraftMetrics {
  record(result: GenerateResult): void;
  modelLoadSeconds: Gauge;
  adapterRejected(reason: AdapterRejectReason): void;
  adapterSwapped(kind: 'context' | 'model'): void;
}

/** Engine state read at scrape time. */
export interface DraftMetricsState {
  running: number;
  queued: number;
  stats?: EngineStats;
}

export function createDraftMetrics(
  registry: Registry,
  state: () => DraftMetricsState | undefined,
): DraftMetrics {
  const registers = [registry];
  const generations = new Counter({
    name: 'sarai_draft_generations_total',
    help: 'Generations finished, by finish reason (stop, length, grammar, eos, cancelled) and adapter',
    labelNames: ['finish_reason', 'adapter'],
    registers,
  });
  const tokens = new Counter({
    name: 'sarai_draft_tokens_generated_total',
    help: 'Output tokens generated',
    labelNames: ['adapter'],
    registers,
  });
  const promptTokens = new Counter({
    name: 'sarai_draft_prompt_tokens_total',
    help: 'Prompt tokens, by whether they were evaluated or served from a reused prefix',
    labelNames: ['kind'],
    registers,
  });
  const decodeRate = new Histogram({
    name: 'sarai_draft_decode_tokens_per_second',
    help: 'Decode rate of each generation (tokens after the first ÷ time from first to last token)',
    buckets: [1, 2, 5, 10, 20, 30, 40, 50, 60, 80, 100, 150, 200, 500, 1000, 5000],
    registers,
  });
  const lastRate = new Gauge({
    name: 'sarai_draft_last_decode_tokens_per_second',
    help: 'Decode rate of the most recent generation with more than one token',
    registers,
  });
  const promptEval = new Histogram({
    name: 'sarai_draft_prompt_eval_seconds',
    help: 'Time from prompt evaluation start to the first output token',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const queueWait = new Histogram({
    name: 'sarai_draft_queue_wait_seconds',
    help: 'Time a request waited for a free sequence',
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  new Gauge({
    name: 'sarai_draft_queue_depth',
    help: 'Requests waiting for a free sequence',
    registers,
    collect() {
      this.set(state()?.queued ?? 0);
    },
  });
  new Gauge({
    name: 'sarai_draft_active_generations',
    help: 'Generations holding a sequence',
    registers,
    collect() {
      this.set(state()?.running ?? 0);
    },
  });
  new Gauge({
    name: 'sarai_draft_active_adapter',
    help: 'The adapter serving requests that name none (value 1; adapter="base" = no adapter)',
    labelNames: ['adapter'],
    registers,
    collect() {
      const stats = state()?.stats;
      this.reset();
      if (stats) this.set({ adapter: stats.active || 'base' }, 1);
    },
  });
  const rejected = new Counter({
    name: 'sarai_draft_adapter_rejected_total',
    help: 'Published adapters refused (not served), by reason',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of ADAPTER_REJECT_REASONS) rejected.inc({ reason }, 0);
  const swaps = new Counter({
    name: 'sarai_draft_adapter_swaps_total',
    help: 'Adapter swaps: kind="context" (new context on the current model), kind="model" (fresh model instance)',
    labelNames: ['kind'],
    registers,
  });
  new Gauge({
    name: 'sarai_draft_model_instances',
    help: 'Loaded model instances (2 while a replaced one finishes its generations)',
    registers,
    collect() {
      this.set(state()?.stats?.instances.length ?? 0);
    },
  });
  new Gauge({
    name: 'sarai_draft_adapter_files_loaded',
    help: 'Adapter files held by the current model instance (at most ADAPTERS_PER_MODEL)',
    registers,
    collect() {
      this.set(state()?.stats?.instances[0]?.adapterFiles ?? 0);
    },
  });
  const modelLoadSeconds = new Gauge({
    name: 'sarai_draft_model_load_seconds',
    help: 'Time taken to load the model and create its contexts',
    registers,
  });
  return {
    modelLoadSeconds,
    adapterRejected: (reason) => rejected.inc({ reason }),
    adapterSwapped: (kind) => swaps.inc({ kind }),
    record(r) {
      const adapter = r.adapter || 'base';
      generations.inc({ finish_reason: r.finishReason, adapter });
      tokens.inc({ adapter }, r.tokensGenerated);
      promptTokens.inc({ kind: 'evaluated' }, r.promptTokensEvaluated);
      promptTokens.inc({ kind: 'reused' }, r.promptTokensReused);
      promptEval.observe(r.promptEvalMs / 1000);
      queueWait.observe(r.queueMs / 1000);
      if (r.tokensGenerated > 1 && r.decodeTokensPerSecond > 0) {
        decodeRate.observe(r.decodeTokensPerSecond);
        lastRate.set(r.decodeTokensPerSecond);
      }
    },
  };
}
