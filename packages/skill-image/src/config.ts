import { envBool, envInt } from '@sarai/formats';
import { commonConfigSchema } from '@sarai/skill-runtime';
import { z } from 'zod';
import { INPUT_FORMATS, OUTPUT_FORMATS, type InputFormat } from './formats.js';
import type { PipelineOptions } from './pipeline.js';

/** skill-image's environment: the runtime's common settings plus the pipeline's and the cache's. */
export const imageConfigSchema = commonConfigSchema.extend({
  /** Cache root: the shared volume (/cache in the container, e.g. state/image_cache on the host). */
  CACHE_DIR: z.string().min(1).default('/cache'),
  CACHE_MAX_MB: envInt(1, 16 * 1024 * 1024).default(1024),
  CACHE_MAX_ENTRIES: envInt(1, 10_000_000).default(20_000),
  CACHE_MAX_AGE_DAYS: z.coerce.number().positive().max(36_500).default(30),
  /** Near-duplicate hits (perceptual); off = exact hits only. */
  CACHE_NEAR_MATCH: envBool.default(true),
  CACHE_FSYNC: envBool.default(true),
  /** Accepted input formats, comma-separated (tiff is off by default). */
  IMAGE_INPUT_FORMATS: z
    .string()
    .default('jpeg,png,webp,gif,avif')
    .transform((s, ctx) => {
      const list = s
        .split(',')
        .map((x) => x.trim().toLowerCase())
        .filter(Boolean);
      const bad = list.filter((x) => !INPUT_FORMATS.includes(x as InputFormat));
      if (bad.length > 0 || list.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown format(s) ${bad.join(', ') || '(none)'}; known: ${INPUT_FORMATS.join(', ')}`,
        });
        return z.NEVER;
      }
      return list as InputFormat[];
    }),
  /** Largest width × height (first frame) accepted: decompression-bomb guard. */
  IMAGE_MAX_PIXELS: envInt(1, 1_000_000_000).default(50_000_000),
  IMAGE_DEFAULT_FORMAT: z.enum(OUTPUT_FORMATS as [string, ...string[]]).default('webp'),
  /** 0 = per-format defaults (webp 80, jpeg 82, avif 50, png lossless). */
  IMAGE_DEFAULT_QUALITY: envInt(0, 100).default(0),
  IMAGE_DEFAULT_MAX_DIMENSION: envInt(16, 65_535).default(1024),
  IMAGE_MAX_DIMENSION: envInt(16, 65_535).default(8192),
  IMAGE_TIMEOUT_MS: envInt(100, 3_600_000).default(15_000),
  IMAGE_CONCURRENCY: envInt(1, 64).default(2),
  IMAGE_QUEUE_MAX: envInt(0, 100_000).default(64),
  /** Estimated decode memory in flight (MiB); larger single images are refused. Keep ≈ half the container limit. */
  IMAGE_DECODE_MEMORY_MB: envInt(1, 1024 * 1024).default(256),
  IMAGE_AVIF_EFFORT: envInt(0, 9).default(2),
});
export type ImageSkillConfig = z.infer<typeof imageConfigSchema>;

/** Pipeline options from the environment configuration. */
export function pipelineOptionsFromConfig(c: ImageSkillConfig): PipelineOptions {
  const q = c.IMAGE_DEFAULT_QUALITY;
  return {
    cacheDir: c.CACHE_DIR,
    maxPixels: c.IMAGE_MAX_PIXELS,
    maxInputBytes: Math.floor(c.SARAI_GRPC_MAX_MESSAGE_MB * 1024 * 1024),
    inputFormats: c.IMAGE_INPUT_FORMATS,
    defaultFormat: c.IMAGE_DEFAULT_FORMAT as PipelineOptions['defaultFormat'] & string,
    ...(q > 0 ? { defaultQuality: { webp: q, jpeg: q, avif: q, png: q === 100 ? 0 : q } } : {}),
    defaultMaxDimension: c.IMAGE_DEFAULT_MAX_DIMENSION,
    maxDimensionLimit: c.IMAGE_MAX_DIMENSION,
    timeoutMs: c.IMAGE_TIMEOUT_MS,
    concurrency: c.IMAGE_CONCURRENCY,
    maxQueue: c.IMAGE_QUEUE_MAX,
    decodeMemoryBytes: c.IMAGE_DECODE_MEMORY_MB * 1024 * 1024,
    maxCacheBytes: c.CACHE_MAX_MB * 1024 * 1024,
    maxCacheEntries: c.CACHE_MAX_ENTRIES,
    maxCacheAgeMs: Math.round(c.CACHE_MAX_AGE_DAYS * 86_400_000),
    nearMatch: c.CACHE_NEAR_MATCH,
    avifEffort: c.IMAGE_AVIF_EFFORT,
    fsync: c.CACHE_FSYNC,
  };
}
