import { errorMessage, type InteractionRecord } from '@sarai/formats';
import { RpcError, preprocessImageHashFirst } from '@sarai/proto';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { runCheckers, type CheckResult, type Checker } from './checkers.js';
import { scoreConfidence } from './confidence.js';
import { LoopError } from './errors.js';
import { draftPrompt, reflectionPrompt, type ImageInfo } from './prompts.js';
import { isSkillFailure, type SkillPool } from './skill-pool.js';
import { appendInteraction, type ReflectionSigner } from './audit.js';

export interface DraftResult {
  text: string;
  /** Mean log-probability of the generated tokens, when the model reports it. */
  meanLogprob?: number;
}

export interface DraftOptions {
  maxTokens: number;
  temperature: number;
  stop: string[];
  grammar?: string;
  seed?: number;
  /** LoRA adapter to use (skill only); empty or unset = the skill's active one. */
  adapter?: string;
  /** Aborted when the caller gave up: stop generating. */
  signal?: AbortSignal;
}

/** A local in-process model that answers when the draft skill is down (e.g. node-llama-cpp on a GGUF file). */
export interface LocalDraftModel {
  generate(prompt: string, opts: DraftOptions): Promise<DraftResult>;
}

/** The in-process image pipeline used when skill-image is down; same hash and cache layout as the skill. */
export interface LocalImagePipeline {
  preprocess(
    bytes: Uint8Array,
    opts: { format: string; quality: number },
  ): Promise<Omit<ImageInfo, 'source'>>;
}

export interface OmniLoopOptions {
  pool: SkillPool;
  signer: ReflectionSigner;
  /** 1..3 (the seed's bound). Default 3. */
  maxIterations?: number;
  /** Early stop when an answer's confidence reaches this. Default 0.8. */
  confidenceThreshold?: number;
  /** Early stop when a reflection returns the same answer again (default true). */
  stopOnUnchanged?: boolean;
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  grammar?: string;
  seed?: number;
  /** Deadline of one draft call. Default: the `deadlineMs` of the skill with role `draft` in the registry (10 s, the seed's). */
  draftDeadlineMs?: number;
  /** Deadline of one image call. Default: the registry's `deadlineMs` of the `image` role (5 s, the seed's). */
  imageDeadlineMs?: number;
  imageFormat?: string;
  imageQuality?: number;
  checkers?: Checker[];
  fallback?: { draft?: LocalDraftModel; image?: LocalImagePipeline };
  /** JSONL file receiving one {@link InteractionRecord} per run (the LoRA trainer's input). Off when unset. */
  interactionLog?: string;
  logger?: Logger;
  registry?: Registry;
}

export interface LoopIteration {
  iteration: number;
  response: string;
  confidence: number;
  corrected: boolean;
  latencyMs: number;
  /** Time spent inside the draft call (skill or fallback); `latencyMs − generationMs` is the loop's own overhead. */
  generationMs: number;
  source: 'skill' | 'fallback';
  /** Armored detached signature of this iteration's reflection prompt; undefined for the first draft. */
  promptSignature: string | undefined;
  checks: CheckResult[];
}

export interface LoopResult {
  text: string;
  iterations: LoopIteration[];
  fallbackUsed: boolean;
  totalLatencyMs: number;
  /**
   * With checkers: the final answer passes checks the first draft failed. Without: the final answer differs from the
   * first draft and has a higher confidence (no external signal says more than that).
   */
  autoCorrected: boolean;
  /** Why the loop stopped: "confident", "unchanged" or "max-iterations". */
  stopReason: 'confident' | 'unchanged' | 'max-iterations';
  image?: ImageInfo;
}

export interface RunOptions {
  image?: Uint8Array;
  /** Checkers for this request only (added to the loop's). */
  checkers?: Checker[];
  grammar?: string;
  /** Per-run overrides of the loop's options (same bounds as {@link OmniLoopOptions}). */
  maxIterations?: number;
  confidenceThreshold?: number;
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  seed?: number;
  /** LoRA adapter of the draft skill for this run; unset = the skill's active one. */
  adapter?: string;
  /**
   * Cancels the run: the in-flight draft/image call is cancelled on the skill (its sequence is freed), no further
   * iteration starts, and `run` rejects with LOOP_CANCELLED.
   */
  signal?: AbortSignal;
  /** Called after each iteration (progress reporting, e.g. streamed events); errors thrown here are ignored. */
  onIteration?: (iteration: LoopIteration) => void;
}

const normalize = (s: string) => s.replace(/\s+/g, ' ').trim().toLowerCase();

/** The Omni-Loop: draft → signed self-reflection → improved answer, up to 3 iterations. */
export class OmniLoop {
  private readonly o: Required<
    Pick<
      OmniLoopOptions,
      | 'maxIterations'
      | 'confidenceThreshold'
      | 'maxTokens'
      | 'temperature'
      | 'stop'
      | 'draftDeadlineMs'
      | 'imageDeadlineMs'
      | 'imageFormat'
      | 'imageQuality'
      | 'checkers'
    >
  > &
    OmniLoopOptions;
  private readonly m: {
    iteration: Histogram<'source'>;
    loop: Histogram<'fallback'>;
    overhead: Histogram;
    fallbacks: Counter<'skill'>;
    stops: Counter<'reason'>;
    confidence: Histogram;
  };
  readonly registry: Registry;

  constructor(opts: OmniLoopOptions) {
    const maxIterations = opts.maxIterations ?? 3;
    if (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > 3) {
      throw new LoopError('LOOP_BAD_OPTION', `maxIterations must be 1, 2 or 3, got ${maxIterations}`);
    }
    const threshold = opts.confidenceThreshold ?? 0.8;
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new LoopError('LOOP_BAD_OPTION', `confidenceThreshold must be within [0, 1], got ${threshold}`);
    }
    this.o = {
      ...opts,
      maxIterations,
      confidenceThreshold: threshold,
      maxTokens: opts.maxTokens ?? 256,
      temperature: opts.temperature ?? 0.7,
      stop: opts.stop ?? ['</response>', '\n\n\n'],
      draftDeadlineMs: opts.draftDeadlineMs ?? opts.pool.registry.byRole('draft')?.deadlineMs ?? 10_000,
      imageDeadlineMs: opts.imageDeadlineMs ?? opts.pool.registry.byRole('image')?.deadlineMs ?? 5_000,
      imageFormat: opts.imageFormat ?? 'webp',
      imageQuality: opts.imageQuality ?? 85,
      checkers: opts.checkers ?? [],
    };
    const r = (this.registry = opts.registry ?? new Registry());
    const sec = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32];
    this.m = {
      iteration: new Histogram({
        name: 'sarai_loop_iteration_seconds',
        help: 'Latency of one loop iteration',
        labelNames: ['source'],
        buckets: sec,
        registers: [r],
      }),
      loop: new Histogram({
        name: 'sarai_loop_seconds',
        help: 'Latency of a whole loop',
        labelNames: ['fallback'],
        buckets: sec,
        registers: [r],
      }),
      overhead: new Histogram({
        name: 'sarai_loop_overhead_seconds',
        help: 'Per-iteration time outside generation (prompting, signing, audit, checkers)',
        buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
        registers: [r],
      }),
      fallbacks: new Counter({
        name: 'sarai_loop_fallback_total',
        help: 'Calls answered by a local fallback',
        labelNames: ['skill'],
        registers: [r],
      }),
      stops: new Counter({
        name: 'sarai_loop_stop_total',
        help: 'Loops by stop reason',
        labelNames: ['reason'],
        registers: [r],
      }),
      confidence: new Histogram({
        name: 'sarai_loop_confidence',
        help: 'Confidence of each iteration',
        buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
        registers: [r],
      }),
    };
  }

  async run(prompt: string, opts: RunOptions = {}): Promise<LoopResult> {
    if (typeof prompt !== 'string' || prompt.trim() === '') {
      throw new LoopError('LOOP_BAD_INPUT', 'the prompt is empty: give the loop a question or task');
    }
    const maxIterations = opts.maxIterations ?? this.o.maxIterations;
    if (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > 3) {
      throw new LoopError('LOOP_BAD_OPTION', `maxIterations must be 1, 2 or 3, got ${maxIterations}`);
    }
    const threshold = opts.confidenceThreshold ?? this.o.confidenceThreshold;
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new LoopError('LOOP_BAD_OPTION', `confidenceThreshold must be within [0, 1], got ${threshold}`);
    }
    const signal = opts.signal;
    const checkCancelled = () => {
      if (signal?.aborted) throw new LoopError('LOOP_CANCELLED', 'the loop was cancelled by the caller');
    };
    checkCancelled();
    const t0 = performance.now();
    const log = this.o.logger;
    const checkers = [...this.o.checkers, ...(opts.checkers ?? [])];
    const image = opts.image ? await this.preprocessImage(opts.image, signal) : undefined;
    const userPrompt = draftPrompt(prompt, image);
    const iterations: LoopIteration[] = [];
    let stopReason: LoopResult['stopReason'] = 'max-iterations';
    const sent: Array<{ sentPrompt: string; signedPrompt?: string | undefined }> = [];

    for (let i = 1; i <= maxIterations; i++) {
      checkCancelled();
      const start = performance.now();
      const prev = iterations.at(-1);
      let text = userPrompt;
      let promptSignature: string | undefined;
      let signedPrompt: string | undefined;
      if (prev) {
        text = reflectionPrompt({
          iteration: i,
          maxIterations,
          originalPrompt: userPrompt,
          draftResponse: prev.response,
          checks: prev.checks,
        });
        try {
          ({ signature: promptSignature, signedPrompt } = await this.o.signer.signAndRecord(text));
        } catch (e) {
          throw new LoopError(
            'LOOP_SIGNING_FAILED',
            `could not sign/audit reflection prompt ${i}: ${errorMessage(e)}`,
            { cause: e },
          );
        }
      }
      sent.push({ sentPrompt: text, signedPrompt });
      const g0 = performance.now();
      const gen = await this.draft(text, opts);
      const generationMs = performance.now() - g0;
      const response = gen.text.trim();
      const checks = await runCheckers(checkers, response, { prompt });
      const confidence = scoreConfidence(gen.meanLogprob, checks);
      const corrected = prev !== undefined && normalize(response) !== normalize(prev.response);
      const latencyMs = performance.now() - start;
      const done: LoopIteration = {
        iteration: i,
        response,
        confidence,
        corrected,
        latencyMs,
        generationMs,
        source: gen.source,
        promptSignature,
        checks,
      };
      iterations.push(done);
      try {
        opts.onIteration?.(done);
      } catch (e) {
        log?.warn({ err: e }, 'onIteration callback failed');
      }
      this.m.iteration.observe({ source: gen.source }, latencyMs / 1000);
      this.m.overhead.observe(Math.max(0, latencyMs - generationMs) / 1000);
      this.m.confidence.observe(confidence);
      log?.info(
        {
          iteration: i,
          source: gen.source,
          confidence,
          corrected,
          latencyMs: Math.round(latencyMs),
          response,
        },
        'loop iteration',
      );
      if (confidence >= threshold) {
        stopReason = 'confident';
        break;
      }
      if (prev && !corrected && this.o.stopOnUnchanged !== false) {
        stopReason = 'unchanged';
        break;
      }
    }

    const final = pickFinal(iterations);
    const first = iterations[0] as LoopIteration;
    const allPass = (it: LoopIteration) => it.checks.every((c) => c.pass);
    const autoCorrected =
      checkers.length > 0
        ? !allPass(first) && allPass(final)
        : normalize(final.response) !== normalize(first.response) && final.confidence > first.confidence;
    const fallbackUsed = iterations.some((it) => it.source === 'fallback') || image?.source === 'fallback';
    const totalLatencyMs = performance.now() - t0;
    this.m.loop.observe({ fallback: String(fallbackUsed) }, totalLatencyMs / 1000);
    this.m.stops.inc({ reason: stopReason });
    if (this.o.interactionLog) {
      const record: InteractionRecord = {
        v: 1,
        ts: new Date().toISOString(),
        prompt,
        image: image ? { perceptualHash: image.perceptualHash, path: image.path } : undefined,
        iterations: iterations.map((it, k) => ({
          iteration: it.iteration,
          sentPrompt: sent[k]?.sentPrompt ?? '',
          signedPrompt: sent[k]?.signedPrompt,
          response: it.response,
          confidence: it.confidence,
          corrected: it.corrected,
          source: it.source,
          checks: it.checks,
        })),
        final: final.response,
        autoCorrected,
        checkersPassed: checkers.length > 0 && allPass(final),
        hadCheckers: checkers.length > 0,
      };
      await appendInteraction(this.o.interactionLog, record).catch((e: unknown) =>
        log?.warn({ err: e }, 'could not append to the interaction log'),
      );
    }
    return {
      text: final.response,
      iterations,
      fallbackUsed,
      totalLatencyMs,
      autoCorrected,
      stopReason,
      ...(image ? { image } : {}),
    };
  }

  private async draft(
    prompt: string,
    run: RunOptions,
  ): Promise<DraftResult & { source: 'skill' | 'fallback' }> {
    const grammar = run.grammar ?? this.o.grammar;
    const seed = run.seed ?? this.o.seed;
    const draftOpts: DraftOptions = {
      maxTokens: run.maxTokens ?? this.o.maxTokens,
      temperature: run.temperature ?? this.o.temperature,
      stop: run.stop ?? this.o.stop,
      ...(grammar ? { grammar } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(run.adapter ? { adapter: run.adapter } : {}),
      ...(run.signal ? { signal: run.signal } : {}),
    };
    try {
      const reply = await this.o.pool.forRole('draft').call(
        (skill, callOpts) =>
          skill.generate(
            {
              prompt,
              maxTokens: draftOpts.maxTokens,
              stop: draftOpts.stop,
              temperature: draftOpts.temperature,
              grammar: draftOpts.grammar ?? '',
              adapter: draftOpts.adapter ?? '',
              logprobs: true,
              ...(draftOpts.seed !== undefined ? { seed: draftOpts.seed } : {}),
            },
            callOpts,
          ).response,
        this.o.draftDeadlineMs,
        run.signal,
      );
      return {
        text: reply.text,
        ...(reply.tokensGenerated > 0 ? { meanLogprob: reply.meanLogprob } : {}),
        source: 'skill',
      };
    } catch (e) {
      return { ...(await this.fallbackDraft(e, prompt, draftOpts)), source: 'fallback' };
    }
  }

  private async fallbackDraft(e: unknown, prompt: string, opts: DraftOptions): Promise<DraftResult> {
    if (e instanceof LoopError && e.code !== 'LOOP_SKILL_UNAVAILABLE') throw e;
    if (!isSkillFailure(e)) {
      throw new LoopError('LOOP_SKILL_REJECTED', `the draft skill rejected the request: ${errorMessage(e)}`, {
        cause: e,
      });
    }
    const local = this.o.fallback?.draft;
    const why = describe(e);
    if (!local) {
      throw new LoopError(
        'LOOP_SKILL_UNAVAILABLE',
        `the draft skill is unavailable (${why}) and no local fallback model is configured (set SARAI_FALLBACK_MODEL to a GGUF file)`,
        { cause: e },
      );
    }
    this.o.logger?.warn({ reason: why }, 'draft skill unavailable: answering with the local fallback model');
    this.m.fallbacks.inc({ skill: 'draft' });
    return local.generate(prompt, opts);
  }

  private async preprocessImage(bytes: Uint8Array, signal?: AbortSignal): Promise<ImageInfo> {
    const req = { format: this.o.imageFormat, quality: this.o.imageQuality };
    try {
      const r = await this.o.pool.forRole('image').call(
        // Hash-first: an image the skill has cached costs no upload (see @sarai/proto preprocessImageHashFirst).
        (skill, callOpts) =>
          preprocessImageHashFirst(
            skill,
            bytes,
            { format: req.format, quality: req.quality, maxDimension: 0 },
            callOpts,
          ),
        this.o.imageDeadlineMs,
        signal,
      );
      return {
        path: r.webpPath,
        perceptualHash: r.perceptualHash,
        width: r.width,
        height: r.height,
        format: r.format || req.format,
        cache: r.cache,
        source: 'skill',
      };
    } catch (e) {
      if (e instanceof LoopError && e.code !== 'LOOP_SKILL_UNAVAILABLE') throw e;
      if (!isSkillFailure(e)) {
        throw new LoopError('LOOP_SKILL_REJECTED', `the image skill rejected the image: ${errorMessage(e)}`, {
          cause: e,
        });
      }
      const local = this.o.fallback?.image;
      if (!local) {
        throw new LoopError(
          'LOOP_SKILL_UNAVAILABLE',
          `the image skill is unavailable (${describe(e)}) and no local image pipeline is configured`,
          { cause: e },
        );
      }
      this.o.logger?.warn({ reason: describe(e) }, 'image skill unavailable: preprocessing in-process');
      this.m.fallbacks.inc({ skill: 'image' });
      return { ...(await local.preprocess(bytes, req)), source: 'fallback' };
    }
  }
}

/** The final answer: the best by checkers passed, then confidence; the latest wins ties. */
function pickFinal(its: LoopIteration[]): LoopIteration {
  const passed = (it: LoopIteration) => it.checks.filter((c) => c.pass).length;
  return its.reduce((best, it) =>
    passed(it) > passed(best) || (passed(it) === passed(best) && it.confidence >= best.confidence)
      ? it
      : best,
  );
}

function describe(e: unknown): string {
  if (e instanceof RpcError) return `${e.code}: ${e.message}`;
  return errorMessage(e);
}
