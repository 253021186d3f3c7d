// The one image pipeline, shared by the gRPC service and the host's in-process fallback.
//
//   bytes ─► validate options ─► allow-list (magic bytes) ─► sha256 ─► exact hit? ─► return (no decoding)
//                                                                       │ no
//                       (bounded concurrency + queue + per-request timeout from here on)
//                                                                       ▼
//            probe header (format, pixel limit) ─► known picture? ─► thumbnail ─► perceptual keys ─► near hit?
//                                                                                                  │ no / variant missing
//                                                                                                  ▼
//                                                    encode variant ─► atomic write ─► index ─► LRU budget
//
// Identical concurrent requests (same bytes and options) are computed once; concurrent requests that need the same
// variant of the same picture share one encode.
import { Admission } from '@sarai/skill-runtime';
import type { Logger } from 'pino';
import { CacheStore, sha256, type CacheEntry, type VariantRecord } from './cache.js';
import { encodeVariant, perceptualKeys, probe, type DecodeLimits, type Probe } from './decode.js';
import { ImageError, type ImageErrorCode } from './errors.js';
import { DEFAULT_THRESHOLDS, type MatchThresholds } from './features.js';
import {
  DEFAULT_INPUT_FORMATS,
  EXTENSION,
  INPUT_FORMATS,
  OUTPUT_FORMATS,
  acceptInput,
  restrictDecoders,
  type InputFormat,
  type OutputFormat,
} from './formats.js';

export type CacheOutcome = 'miss' | 'exact' | 'near';

export interface ImageRequest {
  /** "webp" (default), "jpeg", "avif" or "png"; empty = the default. */
  format?: string;
  /** 1–100; 0 or undefined = the format's default. */
  quality?: number;
  /** Longest output side in pixels; 0 or undefined = the default. Never enlarges. */
  maxDimension?: number;
}

export interface ImageResult {
  /** Path of the output file relative to the cache root, with '/' separators. */
  path: string;
  /** Absolute path of the output file in this process's view of the cache root. */
  absolutePath: string;
  perceptualHash: string;
  cache: CacheOutcome;
  width: number;
  height: number;
  format: OutputFormat;
  bytes: number;
  /** sha256 (hex) of the input bytes. */
  contentHash: string;
}

export interface CacheStats {
  exactHits: number;
  nearHits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
  /** (exact + near) / (exact + near + misses); 0 before any request. */
  hitRate: number;
  rejectedNearHits: number;
}

/** Hooks for metrics (the service wires Prometheus to them). */
export interface PipelineObserver {
  result?(r: { cache: CacheOutcome; format: OutputFormat; bytesIn: number; bytesOut: number }): void;
  stage?(stage: 'hash' | 'probe' | 'keys' | 'encode' | 'write', seconds: number): void;
  error?(code: ImageErrorCode): void;
  evicted?(count: number, bytes: number): void;
  rejectedNear?(count: number): void;
}

export interface PipelineOptions {
  /** Cache root (the shared volume). Created if missing. */
  cacheDir: string;
  /** Largest width × height of the first frame (decompression bombs). Default 50 MP. */
  maxPixels?: number;
  /** Largest input in bytes. Default 32 MiB (the gRPC message limit). */
  maxInputBytes?: number;
  /** Accepted input formats. Default jpeg, png, webp, gif, avif. */
  inputFormats?: readonly InputFormat[];
  defaultFormat?: OutputFormat;
  /** Quality used when a request says 0; per format. */
  defaultQuality?: Partial<Record<OutputFormat, number>>;
  /** Longest side when a request says 0. Default 1024. */
  defaultMaxDimension?: number;
  /** Largest max_dimension a request may ask for. Default 8192. */
  maxDimensionLimit?: number;
  /** Per-request time budget (queueing + decoding + encoding), ms. Default 15 000. */
  timeoutMs?: number;
  /** Requests decoding/encoding at once. Default 2. */
  concurrency?: number;
  /** Requests waiting for a slot before RESOURCE_EXHAUSTED. Default 64. */
  maxQueue?: number;
  /**
   * Estimated decode memory allowed in flight, bytes (default 256 MiB: the container has 512 MB). An image whose
   * own estimate is larger (e.g. a 20 MP AVIF) is refused with RESOURCE_EXHAUSTED; others wait their turn.
   */
  decodeMemoryBytes?: number;
  /** Cache budget: bytes of output files (default 1 GiB), entries (default 20 000), age (default 30 days). */
  maxCacheBytes?: number;
  maxCacheEntries?: number;
  maxCacheAgeMs?: number;
  /** Near-duplicate hits on (default) or off (exact hits only). */
  nearMatch?: boolean;
  thresholds?: MatchThresholds;
  /** AVIF encoder effort 0–9 (default 2: effort 4 is ~10× slower for ~1 % smaller files). */
  avifEffort?: number;
  /** fsync files before renaming them into place (default true). */
  fsync?: boolean;
  logger?: Logger;
  observer?: PipelineObserver;
}

export const DEFAULT_QUALITY: Readonly<Record<OutputFormat, number>> = {
  webp: 80,
  jpeg: 82,
  avif: 50,
  png: 0,
};

interface Resolved {
  format: OutputFormat;
  quality: number;
  maxDimension: number;
  key: string;
}

/** Any failure as an ImageError: ours keep their code, anything else is an internal cache/IO failure. */
function asImageError(e: unknown): ImageError {
  if (e instanceof ImageError) return e;
  return new ImageError('IMAGE_CACHE_IO', `internal error: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
  });
}

function intOption(name: string, v: number | undefined, def: number, min: number, max: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min || x > max) {
    throw new ImageError(
      'IMAGE_BAD_CONFIG',
      `${name} must be an integer in [${min}, ${max}], got ${String(v)}`,
    );
  }
  return x;
}

/**
 * Estimated peak memory of decoding one image (thumbnail + encode): whole-frame decoders cost per pixel; resizing
 * buffers up to a few hundred full-width lines as float, which dominates for very wide pictures (measured: a
 * 60000×96 PNG or GIF needs 100–200 MB).
 */
export function decodeMemoryEstimate(p: Probe): number {
  return Math.ceil(p.width * p.height * decodeBytesPerPixel(p) + p.width * Math.min(p.height, 256) * 32);
}

/**
 * Bytes of memory a decode may need per pixel, measured with sharp 0.35 / libvips 8.18 (peak RSS while making
 * the thumbnail and a 1024 px output): JPEG and PNG stream (≈ 0.4–1 B/px) unless progressive/interlaced or
 * rotated (whole image in memory); WebP, GIF and AVIF decode whole frames (≈ 8, 6 and 18 B/px).
 */
export function decodeBytesPerPixel(p: Probe): number {
  // Inputs with an alpha channel: + the alpha plane read whole to tell opaque from transparent pictures.
  return formatBytesPerPixel(p) + (p.alpha ? 1 : 0);
}

function formatBytesPerPixel(p: Probe): number {
  switch (p.format) {
    case 'jpeg':
      return p.progressive || p.rotated ? 4 : 1;
    case 'png':
      return p.progressive || p.rotated ? 5 : 1.5;
    case 'webp':
      return 8;
    case 'gif':
      return 6;
    case 'avif':
      return 20;
    case 'tiff':
      return 5;
  }
}

export class ImagePipeline {
  private readonly flights = new Map<string, Promise<ImageResult>>();
  private readonly variantFlights = new Map<string, Promise<VariantRecord>>();
  /** Admission: concurrency, FIFO queue and the decode-memory budget (weight = estimated decode bytes). */
  private readonly limiter: Admission;
  private readonly counts = { exact: 0, near: 0, miss: 0, rejectedNear: 0 };
  private closed = false;

  private constructor(
    readonly store: CacheStore,
    private readonly o: Required<
      Omit<PipelineOptions, 'logger' | 'observer' | 'defaultQuality' | 'thresholds'>
    > & {
      defaultQuality: Record<OutputFormat, number>;
    },
    private readonly limits: DecodeLimits,
    private readonly logger: Logger | undefined,
    private readonly observer: PipelineObserver,
  ) {
    this.limiter = new Admission({
      concurrency: o.concurrency,
      maxQueue: o.maxQueue,
      budget: o.decodeMemoryBytes,
    });
  }

  /** Validates options, restricts libvips' decoders to the allow-list and opens the cache (index scan). */
  static async open(opts: PipelineOptions): Promise<ImagePipeline> {
    if (!opts.cacheDir) throw new ImageError('IMAGE_BAD_CONFIG', 'cacheDir is required (CACHE_DIR)');
    const inputFormats = [...(opts.inputFormats ?? DEFAULT_INPUT_FORMATS)];
    for (const f of inputFormats) {
      if (!INPUT_FORMATS.includes(f)) {
        throw new ImageError(
          'IMAGE_BAD_CONFIG',
          `unknown input format "${f}" (known: ${INPUT_FORMATS.join(', ')})`,
        );
      }
    }
    if (inputFormats.length === 0)
      throw new ImageError('IMAGE_BAD_CONFIG', 'at least one input format must be accepted');
    const defaultFormat = opts.defaultFormat ?? 'webp';
    if (!OUTPUT_FORMATS.includes(defaultFormat)) {
      throw new ImageError(
        'IMAGE_BAD_CONFIG',
        `unknown default format "${defaultFormat}" (known: ${OUTPUT_FORMATS.join(', ')})`,
      );
    }
    const defaultQuality = { ...DEFAULT_QUALITY };
    for (const f of OUTPUT_FORMATS) {
      defaultQuality[f] = intOption(
        `default quality of ${f}`,
        opts.defaultQuality?.[f],
        DEFAULT_QUALITY[f],
        f === 'png' ? 0 : 1,
        100,
      );
    }
    const maxDimensionLimit = intOption('maxDimensionLimit', opts.maxDimensionLimit, 8192, 16, 65_535);
    const o = {
      cacheDir: opts.cacheDir,
      maxPixels: intOption('maxPixels', opts.maxPixels, 50_000_000, 1, 2 ** 40),
      maxInputBytes: intOption('maxInputBytes', opts.maxInputBytes, 32 * 1024 * 1024, 1, 2 ** 31),
      inputFormats,
      defaultFormat,
      defaultQuality,
      defaultMaxDimension: intOption(
        'defaultMaxDimension',
        opts.defaultMaxDimension,
        1024,
        16,
        maxDimensionLimit,
      ),
      maxDimensionLimit,
      timeoutMs: intOption('timeoutMs', opts.timeoutMs, 15_000, 100, 3_600_000),
      concurrency: intOption('concurrency', opts.concurrency, 2, 1, 64),
      maxQueue: intOption('maxQueue', opts.maxQueue, 64, 0, 100_000),
      decodeMemoryBytes: intOption(
        'decodeMemoryBytes',
        opts.decodeMemoryBytes,
        256 * 1024 * 1024,
        1024 * 1024,
        2 ** 40,
      ),
      maxCacheBytes: intOption('maxCacheBytes', opts.maxCacheBytes, 1024 ** 3, 1, 2 ** 50),
      maxCacheEntries: intOption('maxCacheEntries', opts.maxCacheEntries, 20_000, 1, 10_000_000),
      maxCacheAgeMs: intOption('maxCacheAgeMs', opts.maxCacheAgeMs, 30 * 86_400_000, 1, 2 ** 50),
      nearMatch: opts.nearMatch ?? true,
      avifEffort: intOption('avifEffort', opts.avifEffort, 2, 0, 9),
      fsync: opts.fsync ?? true,
    };
    restrictDecoders(inputFormats);
    const observer = opts.observer ?? {};
    const store = await CacheStore.open({
      root: opts.cacheDir,
      limits: { maxBytes: o.maxCacheBytes, maxEntries: o.maxCacheEntries, maxAgeMs: o.maxCacheAgeMs },
      thresholds: opts.thresholds ?? DEFAULT_THRESHOLDS,
      fsync: o.fsync,
      ...(opts.logger ? { logger: opts.logger } : {}),
      onEvict: (n, b) => observer.evicted?.(n, b),
    });
    const limits: DecodeLimits = {
      maxPixels: o.maxPixels,
      timeoutSeconds: Math.max(1, Math.ceil(o.timeoutMs / 1000)),
    };
    return new ImagePipeline(store, o, limits, opts.logger, observer);
  }

  /** The cache root as this process sees it (symlinks resolved). */
  get cacheRoot(): string {
    return this.store.root;
  }

  stats(): CacheStats {
    const { exact, near, miss, rejectedNear } = this.counts;
    const total = exact + near + miss;
    return {
      exactHits: exact,
      nearHits: near,
      misses: miss,
      evictions: this.store.counters.evictions,
      entries: this.store.size,
      bytes: this.store.bytes,
      hitRate: total === 0 ? 0 : (exact + near) / total,
      rejectedNearHits: rejectedNear,
    };
  }

  /** Options → (format, quality, max_dimension) with defaults applied; IMAGE_BAD_REQUEST when out of range. */
  resolve(req: ImageRequest): Resolved {
    const fmt = (req.format ?? '').trim().toLowerCase();
    const format = (fmt === '' ? this.o.defaultFormat : fmt === 'jpg' ? 'jpeg' : fmt) as OutputFormat;
    if (!OUTPUT_FORMATS.includes(format)) {
      throw new ImageError(
        'IMAGE_BAD_REQUEST',
        `format "${req.format}" is not supported: use one of ${OUTPUT_FORMATS.join(', ')}`,
      );
    }
    const q = req.quality ?? 0;
    if (!Number.isInteger(q) || q < 0 || q > 100) {
      throw new ImageError(
        'IMAGE_BAD_REQUEST',
        `quality must be an integer from 1 to 100 (0 = default), got ${q}`,
      );
    }
    let quality = q === 0 ? this.o.defaultQuality[format] : q;
    if (format === 'png' && quality === 100) quality = 0; // lossless either way
    const d = req.maxDimension ?? 0;
    if (!Number.isInteger(d) || d < 0 || d > this.o.maxDimensionLimit) {
      throw new ImageError(
        'IMAGE_BAD_REQUEST',
        `max_dimension must be an integer from 16 to ${this.o.maxDimensionLimit} (0 = default ${this.o.defaultMaxDimension}), got ${d}`,
      );
    }
    const maxDimension = d === 0 ? this.o.defaultMaxDimension : Math.max(16, d);
    return { format, quality, maxDimension, key: `${format}-q${quality}-d${maxDimension}` };
  }

  /** Runs the pipeline on one input. Throws {@link ImageError}. */
  async process(input: Uint8Array, req: ImageRequest = {}): Promise<ImageResult> {
    try {
      if (this.closed) throw new ImageError('IMAGE_CLOSED', 'the image pipeline is closed');
      const spec = this.resolve(req);
      if (input.length === 0)
        throw new ImageError(
          'IMAGE_EMPTY',
          'image_data is empty: send the bytes of a JPEG, PNG, WebP, GIF or AVIF image',
        );
      if (input.length > this.o.maxInputBytes) {
        throw new ImageError(
          'IMAGE_TOO_LARGE',
          `image_data is ${input.length} bytes, over the ${this.o.maxInputBytes}-byte limit: send a smaller image`,
        );
      }
      const format = acceptInput(input, this.o.inputFormats);
      const t0 = performance.now();
      const contentHash = sha256(input);
      this.observer.stage?.('hash', (performance.now() - t0) / 1000);
      const flightKey = `${contentHash}|${spec.key}`;
      const inflight = this.flights.get(flightKey);
      let result: ImageResult;
      if (inflight) {
        // Same bytes, same options, already being computed: share it (an exact hit on work in progress).
        result = { ...(await inflight), cache: 'exact', contentHash };
      } else {
        const p = this.run(input, format, contentHash, spec);
        this.flights.set(flightKey, p);
        try {
          result = await p;
        } finally {
          this.flights.delete(flightKey);
        }
      }
      this.count(result, input.length);
      return result;
    } catch (e) {
      const err = asImageError(e);
      this.observer.error?.(err.code);
      if (err.code === 'IMAGE_CACHE_IO') this.logger?.error({ err }, 'image pipeline failed');
      else this.logger?.debug({ code: err.code, msg: err.message }, 'image rejected');
      throw err;
    }
  }

  private count(r: ImageResult, bytesIn: number): void {
    if (r.cache === 'exact') this.counts.exact += 1;
    else if (r.cache === 'near') this.counts.near += 1;
    else this.counts.miss += 1;
    this.observer.result?.({ cache: r.cache, format: r.format, bytesIn, bytesOut: r.bytes });
  }

  private result(e: CacheEntry, v: VariantRecord, cache: CacheOutcome, contentHash: string): ImageResult {
    const rel = this.store.relativePath(e, v.file);
    return {
      path: rel,
      absolutePath: this.store.absolutePath(rel),
      perceptualHash: e.keys.phash,
      cache,
      width: v.width,
      height: v.height,
      format: v.format,
      bytes: v.bytes,
      contentHash,
    };
  }

  /** The stored variant for these bytes (by sha256) and options, when intact and from the best copy seen. */
  private async exactVariant(contentHash: string, spec: Resolved): Promise<ImageResult | undefined> {
    const known = this.store.byContentHash(contentHash);
    if (!known) return undefined;
    known.busy += 1;
    try {
      const v = known.variants.get(spec.key);
      // Skip the fast path when the variant came from a smaller copy than the best one seen (it gets upgraded).
      const best = Math.min(spec.maxDimension, known.maxSide);
      if (v && Math.max(v.width, v.height) >= 0.95 * best && (await this.store.verify(known, spec.key))) {
        this.store.touch(known);
        return this.result(known, v, 'exact', contentHash);
      }
      return undefined;
    } finally {
      known.busy -= 1;
    }
  }

  /**
   * Hash-first exact hit: the result for input bytes whose sha256 is `contentHash` (64 lowercase hex digits) when
   * they were processed before with these options and the variant is intact — without the bytes and without
   * decoding. `undefined` when not cached: the caller then sends the bytes to {@link process}. Throws
   * {@link ImageError} (IMAGE_BAD_REQUEST for a malformed hash or options, IMAGE_CLOSED).
   */
  async lookup(contentHash: string, req: ImageRequest = {}): Promise<ImageResult | undefined> {
    try {
      if (this.closed) throw new ImageError('IMAGE_CLOSED', 'the image pipeline is closed');
      const spec = this.resolve(req);
      if (!/^[0-9a-f]{64}$/.test(contentHash)) {
        throw new ImageError(
          'IMAGE_BAD_REQUEST',
          'content_hash must be the sha256 of image_data as 64 lowercase hex digits',
        );
      }
      const r = await this.exactVariant(contentHash, spec);
      if (r) this.count(r, 0);
      return r;
    } catch (e) {
      const err = asImageError(e);
      this.observer.error?.(err.code);
      throw err;
    }
  }

  private async run(
    input: Uint8Array,
    format: InputFormat,
    contentHash: string,
    spec: Resolved,
  ): Promise<ImageResult> {
    // Exact fast path: these bytes were seen before and this variant exists → no decoding at all.
    const exact = await this.exactVariant(contentHash, spec);
    if (exact) return exact;
    // The time budget covers the header probe, queueing and pixel work. On timeout the caller gets IMAGE_TIMEOUT
    // at once; a queued request leaves the queue, a running one keeps its slot until libvips stops (sharp's own
    // timeout), so timed-out work cannot pile up.
    let timer: NodeJS.Timeout | undefined;
    let cancel: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        cancel?.();
        reject(
          new ImageError(
            'IMAGE_TIMEOUT',
            `processing took longer than ${this.o.timeoutMs} ms (IMAGE_TIMEOUT_MS): send a smaller image or retry`,
          ),
        );
      }, this.o.timeoutMs);
    });
    const work = (async () => {
      const t0 = performance.now();
      const p = await probe(input, format, this.limits);
      this.observer.stage?.('probe', (performance.now() - t0) / 1000);
      const need = decodeMemoryEstimate(p);
      if (need > this.o.decodeMemoryBytes) {
        throw new ImageError(
          'IMAGE_TOO_LARGE',
          `a ${p.width}×${p.height} ${format.toUpperCase()} needs about ${Math.ceil(need / 2 ** 20)} MiB to decode, over this ` +
            `service's ${Math.floor(this.o.decodeMemoryBytes / 2 ** 20)} MiB decode budget (IMAGE_DECODE_MEMORY_MB): send a smaller image` +
            (format === 'jpeg' || format === 'png' ? '' : ' or a JPEG/PNG'),
        );
      }
      const slot = this.limiter.tryAcquire(need);
      if (!slot)
        throw new ImageError(
          'IMAGE_BUSY',
          `the image service is busy (${this.o.maxQueue} requests queued): retry later`,
        );
      cancel = slot.cancel;
      const free = await slot.ready;
      cancel = undefined;
      try {
        return await this.decodeAndStore(input, p, contentHash, spec);
      } finally {
        free();
      }
    })();
    work.catch(() => undefined);
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async decodeAndStore(
    input: Uint8Array,
    p: Probe,
    contentHash: string,
    spec: Resolved,
  ): Promise<ImageResult> {
    let t = performance.now();
    const lap = (stage: 'keys' | 'encode' | 'write') => {
      const now = performance.now();
      this.observer.stage?.(stage, (now - t) / 1000);
      t = now;
    };
    let entry = this.store.byContentHash(contentHash);
    let outcome: CacheOutcome = 'miss';
    if (!entry) {
      const keys = await perceptualKeys(input, p, this.limits);
      lap('keys');
      // Lookup and creation happen in one synchronous step: two near-duplicates arriving together find each other.
      entry = this.store.byContentHash(contentHash);
      if (!entry && this.o.nearMatch) {
        const near = this.store.findNear(keys);
        if (near.rejected > 0) {
          this.counts.rejectedNear += near.rejected;
          this.observer.rejectedNear?.(near.rejected);
        }
        if (near.entry) {
          entry = near.entry;
          this.store.addContent(entry, contentHash);
          outcome = 'near';
        }
      }
      entry ??= this.store.create(keys, contentHash);
    }
    entry.busy += 1;
    try {
      this.store.touch(entry);
      entry.maxSide = Math.max(entry.maxSide, p.width, p.height);
      const have = entry.variants.get(spec.key);
      if (have && this.adequate(have, p, spec) && (await this.store.verify(entry, spec.key))) {
        return this.result(entry, have, outcome === 'near' ? 'near' : 'exact', contentHash);
      }
      // A near-duplicate whose cached variant came from a smaller copy is re-encoded from this (larger) input.
      const flightKey = `${entry.id}|${spec.key}`;
      const shared = have ? undefined : this.variantFlights.get(flightKey);
      if (shared) {
        try {
          const v = await shared;
          return this.result(entry, v, outcome === 'near' ? 'near' : 'exact', contentHash);
        } catch {
          // The other request's input failed to encode; encode ours below.
        }
      }
      const job = this.encodeAndWrite(entry, input, p, spec, lap);
      this.variantFlights.set(flightKey, job);
      try {
        const v = await job;
        return this.result(entry, v, 'miss', contentHash);
      } finally {
        if (this.variantFlights.get(flightKey) === job) this.variantFlights.delete(flightKey);
      }
    } catch (e) {
      this.store.abandon(entry);
      throw e;
    } finally {
      entry.busy -= 1;
    }
  }

  /** A cached variant is good enough unless this input would give a clearly larger output. */
  private adequate(v: VariantRecord, p: Probe, spec: Resolved): boolean {
    const scale = Math.min(1, spec.maxDimension / Math.max(p.width, p.height));
    const expected = Math.round(p.width * scale) * Math.round(p.height * scale);
    return v.width * v.height >= 0.9 * expected;
  }

  private async encodeAndWrite(
    entry: CacheEntry,
    input: Uint8Array,
    p: Probe,
    spec: Resolved,
    lap: (stage: 'encode' | 'write') => void,
  ): Promise<VariantRecord> {
    const out = await encodeVariant(input, p, { ...spec, avifEffort: this.o.avifEffort }, this.limits);
    lap('encode');
    const v = await this.store.putVariant(
      entry,
      spec.key,
      {
        format: spec.format,
        quality: spec.quality,
        maxDimension: spec.maxDimension,
        width: out.width,
        height: out.height,
        bytes: out.data.length,
        createdAt: Date.now(),
      },
      out.data,
    );
    lap('write');
    return v;
  }

  /** Stops accepting requests and persists the index's recency data. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.store.close();
  }
}

/** File extension of each output format (as used in cache file names). */
export { EXTENSION };
