import { status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import {
  rpcStatus,
  type ActivateAdapterReq,
  type AdaptersReply,
  type AdaptersReq,
  type GenChunk,
  type GenReply,
  type GenReq,
  type ISkill,
} from '@sarai/proto';
import { SKILL_SERVICE, rssMb, startSkillServer, type RunningSkill } from '@sarai/skill-runtime';
import type { Logger } from 'pino';
import { AdapterDirectory, engineAdaptersView, type AdaptersView } from './adapter-directory.js';
import { sha256File } from './adapter-verify.js';
import type { DraftConfig } from './config.js';
import { DraftEngine, type EngineOptions, type GenerateParams, type GenerateResult } from './engine.js';
import { DraftError, type DraftErrorCode } from './errors.js';
import { createDraftMetrics, type DraftMetrics } from './metrics.js';

const STATUS_OF: Record<DraftErrorCode, status> = {
  DRAFT_BAD_CONFIG: status.FAILED_PRECONDITION,
  DRAFT_BAD_REQUEST: status.INVALID_ARGUMENT,
  DRAFT_BAD_GRAMMAR: status.INVALID_ARGUMENT,
  DRAFT_PROMPT_TOO_LONG: status.INVALID_ARGUMENT,
  DRAFT_QUEUE_FULL: status.RESOURCE_EXHAUSTED,
  DRAFT_UNKNOWN_ADAPTER: status.NOT_FOUND,
  DRAFT_ADAPTER_REJECTED: status.FAILED_PRECONDITION,
  DRAFT_NOT_READY: status.UNAVAILABLE,
  DRAFT_MODEL_LOAD_FAILED: status.UNAVAILABLE,
  DRAFT_GGUF_INVALID: status.INTERNAL,
};

/** The gRPC status a failure maps to (DraftError codes; anything else is INTERNAL). */
export function toStatus(e: unknown): ReturnType<typeof rpcStatus> {
  if (e instanceof DraftError) return rpcStatus(STATUS_OF[e.code], e.message);
  return rpcStatus(status.INTERNAL, `internal error: ${(e as Error)?.message ?? String(e)}`);
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
    meanLogprob: r.meanLogprob ?? 0,
    minLogprob: r.minLogprob ?? 0,
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

export function engineOptionsOf(config: DraftConfig, logger?: Logger): EngineOptions {
  return {
    modelPath: config.MODEL_PATH,
    ...(config.MODEL_NAME ? { modelName: config.MODEL_NAME } : {}),
    threads: config.THREADS,
    contextSize: config.CONTEXT_SIZE,
    sequences: config.MAX_CONCURRENT,
    maxQueue: config.MAX_QUEUE,
    batchSize: config.BATCH_SIZE,
    maxTokensLimit: config.MAX_TOKENS_LIMIT,
    adapters: config.ADAPTERS,
    activeAdapter: config.ACTIVE_ADAPTER,
    maxAdaptersPerModel: config.ADAPTERS_PER_MODEL,
    flashAttention: config.FLASH_ATTENTION,
    useMmap: config.USE_MMAP,
    ignoreEos: config.IGNORE_EOS,
    binaries: config.LLAMA_BINARIES,
    ...(config.LLAMA_OPENMP_MODULE ? { openmpModule: config.LLAMA_OPENMP_MODULE } : {}),
    prefixReuse: config.PREFIX_REUSE,
    ...(logger ? { logger } : {}),
  };
}

/** Starts the gRPC server of the draft skill (Generate, GenerateStream, both health protocols, /metrics). */
export async function startDraftService(
  config: DraftConfig,
  opts: DraftServiceOptions,
): Promise<DraftService> {
  const { logger } = opts;
  let engine: DraftEngine | undefined;
  let adapters: AdapterDirectory | undefined;
  let loadedAt = 0;
  const metricsRef: { current?: DraftMetrics } = {};
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
        (e: unknown) => {
          if (!(e instanceof DraftError)) logger.error({ err: e }, 'adapter call failed');
          callback(toStatus(e));
        },
      );
    };
  };

  const ready = (): DraftEngine => {
    if (!engine) throw new DraftError('DRAFT_NOT_READY', 'the draft model is still loading; retry shortly');
    return engine;
  };
  const logResult = (method: string, req: GenReq, r: GenerateResult) => {
    metricsRef.current?.record(r);
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
          if (!(e instanceof DraftError)) logger.error({ err: e }, 'Generate failed');
          callback(cancel.signal.aborted ? rpcStatus(cancel.reason(), 'request cancelled') : toStatus(e));
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
          if (!(e instanceof DraftError)) logger.error({ err: e }, 'GenerateStream failed');
          call.emit(
            'error',
            cancel.signal.aborted ? rpcStatus(cancel.reason(), 'request cancelled') : toStatus(e),
          );
        })
        .finally(cancel.dispose);
    },
  };

  const running = await startSkillServer({
    name: 'draft',
    host: config.HOST,
    port: config.PORT,
    maxMessageBytes: Math.floor(config.SARAI_GRPC_MAX_MESSAGE_MB * 1024 * 1024),
    implementation,
    logger,
    ...(config.METRICS_PORT >= 0 ? { metricsPort: config.METRICS_PORT } : {}),
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  });
  const m = createDraftMetrics(running.registry, () =>
    engine ? { running: engine.running, queued: engine.queued, stats: engine.stats() } : undefined,
  );
  metricsRef.current = m;
  running.onShutdown(async () => {
    adapters?.close();
    await engine?.dispose();
  });

  // Health entry per activated adapter: `skills.Skill/adapter/<name>` (`base` = no adapter) is SERVING while that
  // adapter is the default and NOT_SERVING once another one took over.
  let healthAdapter: string | undefined;
  function updateAdapterHealth(): void {
    if (!engine || running.health.status('') !== 'SERVING') return;
    const name = `${SKILL_SERVICE}/adapter/${engine.activeAdapter || 'base'}`;
    if (name === healthAdapter) return;
    if (healthAdapter) running.health.setStatus(healthAdapter, 'NOT_SERVING');
    running.health.setStatus(name, 'SERVING');
    healthAdapter = name;
  }

  let loading: Promise<DraftEngine> | undefined;
  return {
    running,
    metrics: m,
    get engine() {
      return engine;
    },
    get adapters() {
      return adapters;
    },
    load() {
      loading ??= (async () => {
        const t0 = performance.now();
        // The base model's sha256 (adapter manifests name the base they were trained on), hashed while loading.
        const baseSha256 = config.ADAPTERS_DIR ? sha256File(config.MODEL_PATH) : undefined;
        baseSha256?.catch(() => undefined);
        const e = await DraftEngine.load({ ...engineOptionsOf(config, logger), ...opts.engine });
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
        running.setServing(true);
        updateAdapterHealth();
        return e;
      })();
      return loading;
    },
    shutdown: (reason) => running.shutdown(reason),
  };
}
