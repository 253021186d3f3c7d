import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CacheStats, PipelineObserver } from './pipeline.js';

/**
 * Image metrics on a registry (next to skill-runtime's request/latency/in-flight/RSS metrics):
 * cache results, hit ratio, evictions, refused perceptual collisions, bytes in/out, stage durations, rejections.
 */
export function createImageMetrics(registry: Registry, stats: () => CacheStats): PipelineObserver {
  const results = new Counter({
    name: 'sarai_image_cache_requests_total',
    help: 'Image requests by cache result (exact = same bytes seen before, near = near-duplicate picture, miss = encoded)',
    labelNames: ['result', 'format'],
    registers: [registry],
  });
  const evictions = new Counter({
    name: 'sarai_image_cache_evictions_total',
    help: 'Cache entries evicted (LRU size/entry budget or age)',
    registers: [registry],
  });
  const evictedBytes = new Counter({
    name: 'sarai_image_cache_evicted_bytes_total',
    help: 'Bytes of output files evicted',
    registers: [registry],
  });
  const rejectedNear = new Counter({
    name: 'sarai_image_cache_rejected_near_total',
    help: 'Perceptual-hash candidates refused by the collision guard (would have been false hits)',
    registers: [registry],
  });
  const bytesIn = new Counter({
    name: 'sarai_image_input_bytes_total',
    help: 'Bytes of images received',
    registers: [registry],
  });
  const bytesOut = new Counter({
    name: 'sarai_image_output_bytes_total',
    help: 'Bytes of output files returned',
    registers: [registry],
  });
  const stage = new Histogram({
    name: 'sarai_image_stage_duration_seconds',
    help: 'Time per pipeline stage (hash, probe, keys, encode, write)',
    labelNames: ['stage'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'sarai_image_errors_total',
    help: 'Requests refused or failed, by error code (IMAGE_CORRUPT, IMAGE_TOO_LARGE, ...)',
    labelNames: ['code'],
    registers: [registry],
  });
  new Gauge({
    name: 'sarai_image_cache_entries',
    help: 'Pictures in the cache index',
    registers: [registry],
    collect() {
      this.set(stats().entries);
    },
  });
  new Gauge({
    name: 'sarai_image_cache_bytes',
    help: 'Bytes of output files in the cache',
    registers: [registry],
    collect() {
      this.set(stats().bytes);
    },
  });
  new Gauge({
    name: 'sarai_image_cache_hit_ratio',
    help: '(exact + near hits) / requests since start',
    registers: [registry],
    collect() {
      this.set(stats().hitRate);
    },
  });
  return {
    result(r) {
      results.inc({ result: r.cache, format: r.format });
      bytesIn.inc(r.bytesIn);
      bytesOut.inc(r.bytesOut);
    },
    stage(name, seconds) {
      stage.observe({ stage: name }, seconds);
    },
    error(code) {
      errors.inc({ code });
    },
    evicted(count, bytes) {
      evictions.inc(count);
      evictedBytes.inc(bytes);
    },
    rejectedNear(count) {
      rejectedNear.inc(count);
    },
  };
}
