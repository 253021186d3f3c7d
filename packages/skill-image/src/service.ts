import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import {
  skillDefinition,
  type CacheStatsReply,
  type CacheStatsReq,
  type ISkill,
  type ImageReply,
  type ImageReq,
} from '@sarai/proto';
import {
  defineSkill,
  rssMb,
  skillService,
  startSkill,
  type RunningSkill,
  type SkillDefinition,
} from '@sarai/skill-runtime';
import type { Logger } from 'pino';
import sharp from 'sharp';
import { imageConfigSchema, pipelineOptionsFromConfig, type ImageSkillConfig } from './config.js';
import { IMAGE_ERROR_STATUS } from './errors.js';
import { createImageMetrics } from './metrics.js';
import { ImagePipeline, type CacheStats, type ImageResult, type PipelineOptions } from './pipeline.js';

/** Reply to a hash-first request whose bytes the cache does not hold: the client sends image_data next. */
function needsUpload(contentHash: string): ImageReply {
  return {
    webpPath: '',
    perceptualHash: '',
    ramMb: rssMb(),
    cache: '',
    width: 0,
    height: 0,
    format: '',
    bytes: '0',
    contentHash,
    needsUpload: true,
  };
}

/**
 * The Skill methods this service implements (the runtime answers UNIMPLEMENTED for the others). Failures are passed
 * on as ImageErrors: the runtime maps their code through {@link IMAGE_ERROR_STATUS}.
 */
export function imageSkillImplementation(pipeline: ImagePipeline, _logger?: Logger): Partial<ISkill> {
  return {
    preprocessImage(call: ServerUnaryCall<ImageReq, ImageReply>, callback: sendUnaryData<ImageReply>) {
      const req = call.request;
      const options = { format: req.format, quality: req.quality, maxDimension: req.maxDimension };
      // Hash-first: no bytes, only their sha256 → answer from the cache, or ask for the upload.
      const work: Promise<ImageResult | undefined> =
        req.imageData.length === 0 && req.contentHash
          ? pipeline.lookup(req.contentHash, options)
          : pipeline.process(req.imageData, options);
      work.then(
        (r) =>
          callback(
            null,
            r === undefined
              ? needsUpload(req.contentHash ?? '')
              : {
                  webpPath: r.path,
                  perceptualHash: r.perceptualHash,
                  ramMb: rssMb(),
                  cache: r.cache,
                  width: r.width,
                  height: r.height,
                  format: r.format,
                  bytes: String(r.bytes),
                  contentHash: r.contentHash,
                },
          ),
        (e: unknown) => callback(e as Error, null),
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

const EMPTY_STATS: CacheStats = {
  exactHits: 0,
  nearHits: 0,
  misses: 0,
  evictions: 0,
  entries: 0,
  bytes: 0,
  hitRate: 0,
  rejectedNearHits: 0,
};

/**
 * The image skill: opens the pipeline (cache index scan) before listening, serves skills.Skill/PreprocessImage and
 * ImageCacheStats, persists the cache index on shutdown. `pipelineOptions` replaces the options derived from the
 * environment (tests, benchmarks).
 */
export function createImageSkill(
  pipelineOptions: (config: ImageSkillConfig) => PipelineOptions = pipelineOptionsFromConfig,
): SkillDefinition<ImageSkillConfig, { pipeline: ImagePipeline }> {
  return defineSkill({
    name: 'image',
    config: imageConfigSchema,
    errors: IMAGE_ERROR_STATUS,
    async init(ctx) {
      // libvips' operation cache would keep decoded images around (up to 50 MB): repeated inputs are served from
      // our own cache without decoding, so it only costs memory here.
      sharp.cache(false);
      const opened: { pipeline?: ImagePipeline } = {};
      const observer = createImageMetrics(ctx.registry, () => opened.pipeline?.stats() ?? EMPTY_STATS);
      const p = await ImagePipeline.open({ ...pipelineOptions(ctx.config), logger: ctx.logger, observer });
      opened.pipeline = p;
      ctx.onShutdown(() => p.close());
      ctx.logger.info({ cacheDir: p.cacheRoot, entries: p.stats().entries }, 'image skill ready');
      return { pipeline: p };
    },
    services: (ctx, { pipeline }) => [
      skillService(skillDefinition, imageSkillImplementation(pipeline, ctx.logger)),
    ],
  });
}

/** The image skill configured from the environment (the container's main.ts runs it). */
export const imageSkill = createImageSkill();

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

/** Starts the image skill in this process with explicit pipeline options (tests, embedded use). */
export async function startImageSkill(opts: StartImageSkillOptions): Promise<RunningImageSkill> {
  const handle = await startSkill(
    createImageSkill(() => opts.pipeline),
    {
      logger: opts.logger,
      config: {
        HOST: opts.host ?? '0.0.0.0',
        PORT: opts.port,
        METRICS_PORT: opts.metricsPort ?? -1,
        ...(opts.maxMessageBytes !== undefined
          ? { SARAI_GRPC_MAX_MESSAGE_MB: opts.maxMessageBytes / (1024 * 1024) }
          : {}),
        ...(opts.shutdownGraceMs !== undefined ? { SHUTDOWN_GRACE_MS: opts.shutdownGraceMs } : {}),
      },
    },
  );
  return { running: handle.running, pipeline: handle.state.pipeline };
}
