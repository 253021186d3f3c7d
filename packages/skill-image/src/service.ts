import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  rpcStatus,
  type CacheStatsReply,
  type CacheStatsReq,
  type ISkill,
  type ImageReply,
  type ImageReq,
} from '@sarai/proto';
import { SkillRuntimeError, rssMb, startSkillServer, type RunningSkill } from '@sarai/skill-runtime';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { ImageError, grpcCodeOf } from './errors.js';
import { createImageMetrics } from './metrics.js';
import { ImagePipeline, type CacheStats, type PipelineOptions } from './pipeline.js';

/** The Skill methods this service implements (the runtime answers UNIMPLEMENTED for the others). */
export function imageSkillImplementation(pipeline: ImagePipeline, logger?: Logger): Partial<ISkill> {
  return {
    preprocessImage(call: ServerUnaryCall<ImageReq, ImageReply>, callback: sendUnaryData<ImageReply>) {
      const req = call.request;
      pipeline
        .process(req.imageData, { format: req.format, quality: req.quality, maxDimension: req.maxDimension })
        .then(
          (r) =>
            callback(null, {
              webpPath: r.path,
              perceptualHash: r.perceptualHash,
              ramMb: rssMb(),
              cache: r.cache,
              width: r.width,
              height: r.height,
              format: r.format,
              bytes: String(r.bytes),
              contentHash: r.contentHash,
            }),
          (e: unknown) => {
            if (e instanceof ImageError)
              return callback(rpcStatus(grpcCodeOf(e.code), `${e.code}: ${e.message}`), null);
            logger?.error({ err: e }, 'PreprocessImage failed');
            callback(
              rpcStatus(status.INTERNAL, `internal error: ${(e as Error)?.message ?? String(e)}`),
              null,
            );
          },
        );
    },
    imageCacheStats(
      _call: ServerUnaryCall<CacheStatsReq, CacheStatsReply>,
      callback: sendUnaryData<CacheStatsReply>,
    ) {
      callback(null, statsReply(pipeline.stats()));
    },
  };
}

export function statsReply(s: CacheStats): CacheStatsReply {
  return {
    exactHits: String(s.exactHits),
    nearHits: String(s.nearHits),
    misses: String(s.misses),
    evictions: String(s.evictions),
    entries: String(s.entries),
    bytes: String(s.bytes),
    hitRate: s.hitRate,
    rejectedNearHits: String(s.rejectedNearHits),
  };
}

export interface StartImageSkillOptions {
  pipeline: PipelineOptions;
  logger: Logger;
  host?: string;
  port: number;
  /** Prometheus port; 0 = ephemeral, -1/undefined = none. */
  metricsPort?: number;
  maxMessageBytes?: number;
  shutdownGraceMs?: number;
}

export interface RunningImageSkill {
  running: RunningSkill;
  pipeline: ImagePipeline;
}

/**
 * Opens the pipeline (cache index scan), starts the gRPC server with both health protocols and metrics, and
 * reports SERVING once ready. Shutdown drains calls, then persists the cache index.
 */
export async function startImageSkill(opts: StartImageSkillOptions): Promise<RunningImageSkill> {
  // libvips' operation cache would keep decoded images around (up to 50 MB): repeated inputs are served from our
  // own cache without decoding, so it only costs memory here.
  sharp.cache(false);
  const registry = new Registry();
  let pipeline: ImagePipeline | undefined;
  const observer = createImageMetrics(registry, () =>
    pipeline
      ? pipeline.stats()
      : {
          exactHits: 0,
          nearHits: 0,
          misses: 0,
          evictions: 0,
          entries: 0,
          bytes: 0,
          hitRate: 0,
          rejectedNearHits: 0,
        },
  );
  try {
    pipeline = await ImagePipeline.open({ ...opts.pipeline, logger: opts.logger, observer });
  } catch (e) {
    if (e instanceof ImageError) {
      throw new SkillRuntimeError(
        e.code === 'IMAGE_BAD_CONFIG' ? 'RUNTIME_BAD_CONFIG' : 'RUNTIME_START_FAILED',
        e.message,
        { cause: e },
      );
    }
    throw e;
  }
  const p = pipeline;
  let running: RunningSkill;
  try {
    running = await startSkillServer({
      name: 'image',
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      port: opts.port,
      implementation: imageSkillImplementation(p, opts.logger),
      logger: opts.logger,
      registry,
      ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
      ...(opts.maxMessageBytes !== undefined ? { maxMessageBytes: opts.maxMessageBytes } : {}),
      ...(opts.shutdownGraceMs !== undefined ? { shutdownGraceMs: opts.shutdownGraceMs } : {}),
    });
  } catch (e) {
    await p.close();
    throw e;
  }
  running.onShutdown(() => p.close());
  running.setServing(true);
  opts.logger.info({ cacheDir: p.cacheRoot, entries: p.stats().entries }, 'image skill ready');
  return { running, pipeline: p };
}
