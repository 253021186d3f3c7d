import { status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import {
  rpcStatus,
  skillDefinition,
  type ActivateAdapterReq,
  type AdaptersReply,
  type AdaptersReq,
  type GenChunk,
  type GenReply,
  type GenReq,
  type ISkill,
} from '@sarai/proto';
import {
  SKILL_SERVICE,
  defineSkill,
  rssMb,
  runSkill,
  skillService,
  startSkill,
  toGrpcStatus,
  type RunningSkill,
  type SkillContext,
  type SkillDefinition,
} from '@sarai/skill-runtime';
import type { Logger } from 'pino';
import { AdapterDirectory, engineAdaptersView, type AdaptersView } from './adapter-directory.js';
import { sha256File } from '@sarai/formats';
import { draftConfigSchema, type DraftConfig } from './config.js';
import { DraftEngine, type EngineOptions, type GenerateParams, type GenerateResult } from './engine.js';
import { DRAFT_ERROR_STATUS, DraftError } from './errors.js';
import { createDraftMetrics, type DraftMetrics } from './metrics.js';
import { modelLoadOptionsOf } from './model-env.js';
import type { ModelPreload } from './engine/model-preload.js';

/** The gRPC status a failure maps to, as the runtime sends it (`"<CODE>: <message>"`; non-draft errors INTERNAL). */
export function toStatus(e: unknown): ReturnType<typeof rpcStatus> {
  return toGrpcStatus(e, DRAFT_ERROR_STATUS, 'draft').status;
}

export function paramsOf(req: GenReq): GenerateParams {
  return {
    prompt: req.prompt,
    maxTokens: req.maxTokens,
    stop: req.stop,
    temperature: req.temperature,
    ...(req.grammar ? { grammar: req.grammar } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    adapter: req.adapter,
    logprobs: req.logprobs,
  };
}

const finiteOr0 = (x: number | undefined): number => (x !== undefined && Number.isFinite(x) ? x : 0);

export function replyOf(r: GenerateResult, text = r.text): GenReply {
  return {
    text,
    tokensPerSecond: Math.round(r.decodeTokensPerSecond),
    ramMb: rssMb(),
    tokensGenerated: r.tokensGenerated,
    finishReason: r.finishReason,
    decodeTokensPerSecond: r.decodeTokensPerSecond,
    promptTokensEvaluated: r.promptTokensEvaluated,
    promptTokensReused: r.promptTokensReused,
    // Never NaN/∞ on the wire (protobuf-ts clients reject such a message): 0 = not available.
    meanLogprob: finiteOr0(r.meanLogprob),
    minLogprob: finiteOr0(r.minLogprob),
    adapter: r.adapter,
    model: r.model,
  };
}

type AnyCall = ServerUnaryCall<GenReq, unknown> | ServerWritableStream<GenReq, unknown>;

/** Aborts when the client cancels or its deadline passes; `reason` says which. */
function callSignal(call: AnyCall): { signal: AbortSignal; reason: () => status; dispose: () => void } {
  const ac = new AbortController();
  let why: status = status.CANCELLED;
  const onCancel = () => ac.abort();
  call.on('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (Number.isFinite(at)) {
    const fire = () => {
      why = status.DEADLINE_EXCEEDED;
      ac.abort();
    };
    const ms = at - Date.now();
    if (ms <= 0) fire();
    else timer = setTimeout(fire, ms);
  }
  if (call.cancelled) ac.abort();
  return {
    signal: ac.signal,
    reason: () => why,
    dispose: () => {
      if (timer) clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}

export function engineOptionsOf(config: DraftConfig, logger?: Logger): EngineOptions {
  return {
    ...modelLoadOptionsOf(config),
    ...(config.MODEL_NAME ? { modelName: config.MODEL_NAME } : {}),
    contextSize: config.CONTEXT_SIZE,
    sequences: config.MAX_CONCURRENT,
    maxQueue: config.MAX_QUEUE,
    batchSize: config.BATCH_SIZE,
    maxTokensLimit: config.MAX_TOKENS_LIMIT,
    adapters: config.ADAPTERS,
    activeAdapter: config.ACTIVE_ADAPTER,
    maxAdaptersPerModel: config.ADAPTERS_PER_MODEL,
    ...(config.ADAPTERS_RELEASE === 'auto'
      ? {}
      : { releaseAdapters: config.ADAPTERS_RELEASE === 'in-place' }),
    ignoreEos: config.IGNORE_EOS,
    prefixReuse: config.PREFIX_REUSE,
    ...(logger ? { logger } : {}),
  };
}

export interface DraftServiceOptions {
  logger: Logger;
  /** Overrides for the engine (tests, benchmarks). */
  engine?: Partial<EngineOptions>;
}

/** A started draft skill: listening (NOT_SERVING) until `load()` has loaded the model. */
export interface DraftService {
  readonly running: RunningSkill;
  readonly metrics: DraftMetrics;
  readonly engine: DraftEngine | undefined;
  /** The watched ADAPTERS_DIR (when set, after `load()`). */
  readonly adapters: AdapterDirectory | undefined;
  /** Loads the model, then reports SERVING on both health protocols. */
  load(): Promise<DraftEngine>;
  /** NOT_SERVING, drain in-flight generations, dispose the model. */
  shutdown(reason?: string): Promise<void>;
}

/** What one running draft skill holds: the engine once loaded, the adapters directory, its metrics. */
export interface DraftState {
  readonly metrics: DraftMetrics;
  readonly engine: DraftEngine | undefined;
  readonly adapters: AdapterDirectory | undefined;
  readonly implementation: Partial<ISkill>;
  /** Loads the model and the adapters directory (once). */
  load(): Promise<DraftEngine>;
  /** Keeps the per-adapter health entries in line with the active adapter. */
  updateAdapterHealth(): void;
}

function draftState(
  ctx: SkillContext<DraftConfig>,
  engineOverrides: Partial<EngineOptions> = {},
): DraftState {
  const { logger, config, health } = ctx;
  let engine: DraftEngine | undefined;
  let adapters: AdapterDirectory | undefined;
  let loadedAt = 0;
  const adaptersView = (): AdaptersView => adapters?.view() ?? engineAdaptersView(ready(), loadedAt);
  const replyOfView = (v: AdaptersView): AdaptersReply => ({
    adapters: v.adapters.map((a) => ({ ...a, loadedAtUnixMs: String(a.loadedAtUnixMs) })),
    active: v.active,
    rejected: v.rejected,
  });
  const unary = <Req, Res>(fn: (req: Req) => Promise<Res>) => {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      fn(call.request).then(
        (r) => callback(null, r),
        (e: unknown) => callback(e as Error),
      );
    };
  };

  const ready = (): DraftEngine => {
    if (!engine) throw new DraftError('DRAFT_NOT_READY', 'the draft model is still loading; retry shortly');
    return engine;
  };
  const m = createDraftMetrics(ctx.registry, () =>
    engine ? { running: engine.running, queued: engine.queued, stats: engine.stats() } : undefined,
  );
  ctx.onShutdown(async () => {
    adapters?.close();
    await engine?.dispose();
  });
  const logResult = (method: string, req: GenReq, r: GenerateResult) => {
    m.record(r);
    logger.info(
      {
        method,
        prompt: req.prompt,
        text: r.text,
        promptTokens: r.promptTokens,
        evaluated: r.promptTokensEvaluated,
        reused: r.promptTokensReused,
        tokens: r.tokensGenerated,
        finish: r.finishReason,
        tps: Number(r.decodeTokensPerSecond.toFixed(1)),
        promptMs: Number(r.promptEvalMs.toFixed(1)),
        queueMs: Number(r.queueMs.toFixed(1)),
        adapter: r.adapter,
      },
      'generated',
    );
  };

  // Health entry per activated adapter: `skills.Skill/adapter/<name>` (`base` = no adapter) is SERVING while that
  // adapter is the default and NOT_SERVING once another one took over.
  let healthAdapter: string | undefined;
  function updateAdapterHealth(): void {
    if (!engine || health.status('') !== 'SERVING') return;
    const name = `${SKILL_SERVICE}/adapter/${engine.activeAdapter || 'base'}`;
    if (name === healthAdapter) return;
    if (healthAdapter) health.setStatus(healthAdapter, 'NOT_SERVING');
    health.setStatus(name, 'SERVING');
    healthAdapter = name;
  }

  const implementation: Partial<ISkill> = {
    listAdapters: unary<AdaptersReq, AdaptersReply>(async () => replyOfView(adaptersView())),
    reloadAdapters: unary<AdaptersReq, AdaptersReply>(async () => {
      ready();
      if (!adapters) {
        throw new DraftError(
          'DRAFT_BAD_CONFIG',
          'no adapters directory: set ADAPTERS_DIR to publish adapters',
        );
      }
      return replyOfView(await adapters.reload());
    }),
    activateAdapter: unary<ActivateAdapterReq, AdaptersReply>(async (req) => {
      const e = ready();
      if (adapters) return replyOfView(await adapters.activate(req.name));
      await e.activate(req.name);
      updateAdapterHealth();
      return replyOfView(adaptersView());
    }),
    generate(call: ServerUnaryCall<GenReq, GenReply>, callback: sendUnaryData<GenReply>) {
      const cancel = callSignal(call);
      (async () => {
        const r = await ready().generate(paramsOf(call.request), { signal: cancel.signal });
        logResult('Generate', call.request, r);
        if (r.finishReason === 'cancelled') {
          callback(
            rpcStatus(cancel.reason(), 'generation stopped: the client cancelled or its deadline passed'),
          );
        } else {
          callback(null, replyOf(r));
        }
      })()
        .catch((e: unknown) => {
          callback(cancel.signal.aborted ? rpcStatus(cancel.reason(), 'request cancelled') : (e as Error));
        })
        .finally(cancel.dispose);
    },
    generateStream(call: ServerWritableStream<GenReq, GenChunk>) {
      const cancel = callSignal(call);
      (async () => {
        const r = await ready().generate(paramsOf(call.request), {
          signal: cancel.signal,
          onText: (piece) => {
            if (!cancel.signal.aborted) call.write({ token: piece, final: false });
          },
        });
        logResult('GenerateStream', call.request, r);
        if (r.finishReason === 'cancelled') {
          call.emit(
            'error',
            rpcStatus(cancel.reason(), 'generation stopped: the client cancelled or its deadline passed'),
          );
          return;
        }
        call.write({ token: '', final: true, reply: replyOf(r) });
        call.end();
      })()
        .catch((e: unknown) => {
          call.emit('error', cancel.signal.aborted ? rpcStatus(cancel.reason(), 'request cancelled') : e);
        })
        .finally(cancel.dispose);
    },
  };

  let loading: Promise<DraftEngine> | undefined;
  return {
    metrics: m,
    implementation,
    get engine() {
      return engine;
    },
    get adapters() {
      return adapters;
    },
    updateAdapterHealth,
    load() {
      loading ??= (async () => {
        const t0 = performance.now();
        // The base model's sha256 (adapter manifests name the base they were trained on), hashed while loading.
        const baseSha256 = config.ADAPTERS_DIR ? sha256File(config.MODEL_PATH) : undefined;
        baseSha256?.catch(() => undefined);
        const e = await DraftEngine.load({ ...engineOptionsOf(config, logger), ...engineOverrides });
        engine = e;
        loadedAt = Date.now();
        if (config.ADAPTERS_DIR && config.TRUSTED_KEYS_FILE) {
          const tensors = new Map(
            (e.model.fileInfo.tensorInfo ?? []).map((t) => [t.name, t.dimensions.map(Number)] as const),
          );
          adapters = new AdapterDirectory({
            dir: config.ADAPTERS_DIR,
            trustedKeysFile: config.TRUSTED_KEYS_FILE,
            engine: e,
            base: { sha256: (await baseSha256) as string, architecture: e.architecture, tensors },
            scale: config.ADAPTERS_SCALE,
            autoActivate: config.ADAPTERS_AUTO_ACTIVATE,
            rescanMs: config.ADAPTERS_RESCAN_MS,
            logger,
            onRejected: (reason) => m.adapterRejected(reason),
            onSwap: (swap) => m.adapterSwapped(swap.kind),
            onChange: () => updateAdapterHealth(),
          });
          await adapters.start();
        }
        m.modelLoadSeconds.set((performance.now() - t0) / 1000);
        logger.info(
          {
            model: e.modelName,
            path: config.MODEL_PATH,
            threads: config.THREADS,
            contextSize: config.CONTEXT_SIZE,
            sequences: config.MAX_CONCURRENT,
            adapters: e.variants.filter(Boolean),
            active: e.activeAdapter,
            loadMs: Math.round(performance.now() - t0),
          },
          'model loaded',
        );
        return e;
      })();
      return loading;
    },
  };
}

/**
 * The draft skill: listens NOT_SERVING, loads the model (and the adapters directory), then SERVING; serves
 * skills.Skill Generate, GenerateStream and the adapter methods. `engine` overrides engine options (tests, benches).
 */
export function createDraftSkill(engine?: Partial<EngineOptions>): SkillDefinition<DraftConfig, DraftState> {
  return defineSkill({
    name: 'draft',
    config: draftConfigSchema,
    errors: DRAFT_ERROR_STATUS,
    init: (ctx) => draftState(ctx, engine),
    services: (_ctx, state) => [skillService(skillDefinition, state.implementation)],
    async start(ctx, state) {
      await state.load();
      ctx.setServing(true);
      state.updateAdapterHealth();
    },
  });
}

/** The draft skill configured from the environment. */
export const draftSkill = createDraftSkill();

/** Runs the draft skill as the container's process (main.ts), adopting the model load it started early. */
export function runDraftSkill(preloaded?: ModelPreload): void {
  runSkill(createDraftSkill(preloaded ? { preloaded } : undefined));
}

/** Starts the draft skill in this process with a validated config: listening (NOT_SERVING) until `load()`. */
export async function startDraftService(
  config: DraftConfig,
  opts: DraftServiceOptions,
): Promise<DraftService> {
  const handle = await startSkill(createDraftSkill(opts.engine), {
    resolvedConfig: config,
    logger: opts.logger,
    start: false,
  });
  const state = handle.state;
  return {
    running: handle.running,
    metrics: state.metrics,
    get engine() {
      return state.engine;
    },
    get adapters() {
      return state.adapters;
    },
    async load() {
      await handle.start();
      return state.engine as DraftEngine;
    },
    shutdown: (reason) => handle.shutdown(reason),
  };
}
