import { percentile, secondHalf, secondHalfSlope, slopeStdErr } from '../soak/stats.js';
import { SOAK_SERVICES, upCompose, type ContainerState, type SoakService } from './deployment.js';
import { containerMemory } from './memory.js';
import { draftTraffic, hostTraffic, imageTraffic, sandboxTraffic, type ServiceTraffic } from './traffic.js';

/** One service of a compose soak: its calls, latencies and its container's memory over the run. */
export interface ComposeSoakServiceReport {
  service: SoakService;
  requests: number;
  ok: number;
  /** Refused by design: deliberately invalid requests refused, admission control (RESOURCE_EXHAUSTED, 429). */
  refused: number;
  failures: number;
  /** The first few failures, verbatim. */
  failureSamples: string[];
  /** Answered requests per second. */
  throughputPerS: number;
  /** Latency of answered requests. */
  p50Ms: number;
  p99Ms: number;
  /** The container's resident (anonymous) memory from its cgroup: first and last sample, largest sample, MiB. */
  memStartMb: number;
  memEndMb: number;
  memPeakMb: number;
  /** The cgroup's own peak usage (page cache included), MiB. */
  cgroupPeakMb: number;
  /** Least-squares slope of the resident memory over the run's second half, MiB/min. */
  memSlopeMbPerMin: number;
  /** Standard error of that slope (the samples' noise), MiB/min. */
  memSlopeStdErr: number;
  /** The container's memory limit, MiB (Infinity: none). */
  limitMb: number;
  /** The container at the end: running, health, restarts, OOM-killed. */
  end: ContainerState;
}

export interface ComposeSoakReport {
  /** Traffic duration, warm-up included. */
  seconds: number;
  /** Of which warm-up before memory sampling began. */
  warmupSeconds: number;
  freshPictures: boolean;
  clients: number;
  sampleSeconds: number;
  samples: number;
  project: string;
  services: ComposeSoakServiceReport[];
}

/**
 * Soak against the real compose deployment (apps/deploy/docker-compose.yml: hardened skill-draft, skill-image,
 * skill-sandbox and the `sarai` host): `clients` concurrent callers per service for `seconds` — draft and image over
 * their published gRPC ports, the sandbox over its unix socket, the host's OpenAI API over HTTP (JSON and SSE) —
 * while every container's memory is read from its cgroup every `sampleSeconds`. The deployment is torn down at
 * the end, on failure and on SIGINT/SIGTERM.
 */
export async function soakCompose(o: {
  seconds: number;
  clients?: number;
  sampleSeconds?: number;
  /**
   * Every 10th image request a never-seen picture (default true): exercises the cache up to its entry limit and
   * eviction, so skill-image's memory grows for the first minutes by design. Short runs turn it off to measure a
   * warmed-up working set.
   */
  freshPictures?: boolean;
  /**
   * skill-image's CACHE_MAX_ENTRIES for the run (default 2000, the image's default is 20 000): with never-seen
   * pictures the cache reaches its limit within the first minutes and evicts from then on, so the second half
   * measures the steady state with eviction instead of an index still filling.
   */
  imageCacheEntries?: number;
  /**
   * Traffic before memory is sampled (default 0): a service's heap and buffers grow for its first minute of traffic
   * (skill-draft: about 62 → 87 MiB), which a short run would otherwise read as a slope. Requests of the warm-up
   * count like any other (a failure is a failure).
   */
  warmupSeconds?: number;
  /** Progress lines (start-up, every minute). */
  say?: (line: string) => void;
}): Promise<ComposeSoakReport> {
  const clients = o.clients ?? 2;
  const sampleSeconds = o.sampleSeconds ?? 5;
  const say = o.say ?? (() => undefined);
  const t00 = Date.now();
  const d = await upCompose({
    serviceEnv: { 'skill-image': { CACHE_MAX_ENTRIES: String(o.imageCacheEntries ?? 2000) } },
  });
  say(`compose project ${d.project} healthy in ${Math.round((Date.now() - t00) / 1000)} s`);
  const traffic: ServiceTraffic[] = [];
  try {
    traffic.push(
      draftTraffic(d),
      await imageTraffic(d, o.freshPictures ?? true),
      sandboxTraffic(d),
      hostTraffic(d),
    );
    const stats = Object.fromEntries(
      SOAK_SERVICES.map((s) => [
        s,
        { ok: 0, refused: 0, failures: 0, samples: [] as string[], latencies: [] as number[] },
      ]),
    ) as Record<
      SoakService,
      { ok: number; refused: number; failures: number; samples: string[]; latencies: number[] }
    >;
    const mem = Object.fromEntries(SOAK_SERVICES.map((s) => [s, [] as Array<[number, number]>])) as Record<
      SoakService,
      Array<[number, number]>
    >;
    const cgroupPeak: Record<string, number> = {};
    const limit: Record<string, number> = {};
    const tTraffic = performance.now();
    const warmupMs = (o.warmupSeconds ?? 0) * 1000;
    if (warmupMs > 0) say(`warming up for ${o.warmupSeconds} s before sampling memory`);
    // Memory is sampled from the end of the warm-up; traffic runs through both.
    const t0 = tTraffic + warmupMs;
    const sample = async () => {
      const t = (performance.now() - t0) / 60_000;
      for (const s of SOAK_SERVICES) {
        const m = await containerMemory(d.containers[s]);
        mem[s].push([t, m.rssMb]);
        cgroupPeak[s] = Math.max(cgroupPeak[s] ?? 0, m.peakMb);
        limit[s] = m.limitMb;
      }
    };
    let sampling = Promise.resolve();
    let sampler: NodeJS.Timeout | undefined;
    const startSampling = setTimeout(() => {
      sampling = sample();
      sampler = setInterval(() => {
        sampling = sampling.then(sample).catch((e: Error) => say(`memory sample failed: ${e.message}`));
      }, sampleSeconds * 1000);
    }, warmupMs);
    const minutes = setInterval(() => {
      say(
        `${Math.round((performance.now() - tTraffic) / 1000)} s: ${SOAK_SERVICES.map((s) => `${s} ${stats[s].ok} ok/${stats[s].refused} refused/${stats[s].failures} failed, ${Math.round(mem[s].at(-1)?.[1] ?? 0)} MiB`).join('; ')}`,
      );
    }, 60_000);
    const end = t0 + o.seconds * 1000;
    let i = 0;
    const worker = async (t: ServiceTraffic) => {
      const st = stats[t.service];
      while (performance.now() < end) {
        const n = i++;
        const s = performance.now();
        const r = await t.call(n);
        if (r.kind === 'ok') {
          st.ok++;
          st.latencies.push(performance.now() - s);
        } else if (r.kind === 'refused') st.refused++;
        else {
          st.failures++;
          if (st.samples.length < 5) st.samples.push(r.why);
        }
      }
    };
    await Promise.all(traffic.flatMap((t) => Array.from({ length: clients }, () => worker(t))));
    clearTimeout(startSampling);
    clearInterval(sampler);
    clearInterval(minutes);
    await sampling;
    await sample();
    const elapsed = (performance.now() - tTraffic) / 1000;
    const services: ComposeSoakServiceReport[] = [];
    for (const s of SOAK_SERVICES) {
      const st = stats[s];
      const lat = st.latencies.sort((a, b) => a - b);
      const m = mem[s];
      services.push({
        service: s,
        requests: st.ok + st.refused + st.failures,
        ok: st.ok,
        refused: st.refused,
        failures: st.failures,
        failureSamples: st.samples,
        throughputPerS: Number((st.ok / elapsed).toFixed(1)),
        p50Ms: Math.round(percentile(lat, 50)),
        p99Ms: Math.round(percentile(lat, 99)),
        memStartMb: Math.round(m[0]?.[1] ?? 0),
        memEndMb: Math.round(m.at(-1)?.[1] ?? 0),
        memPeakMb: Math.round(Math.max(...m.map(([, y]) => y))),
        cgroupPeakMb: Math.round(cgroupPeak[s] ?? 0),
        memSlopeMbPerMin: secondHalfSlope(m),
        memSlopeStdErr: Number(slopeStdErr(secondHalf(m)).toFixed(2)),
        limitMb: limit[s] ?? Infinity,
        end: await d.state(s),
      });
    }
    return {
      seconds: Math.round(elapsed),
      warmupSeconds: o.warmupSeconds ?? 0,
      freshPictures: o.freshPictures ?? true,
      clients,
      sampleSeconds,
      samples: mem['sarai'].length,
      project: d.project,
      services,
    };
  } finally {
    for (const t of traffic) t.close();
    await d.down();
  }
}

/**
 * Whether a service's memory slope is within noise: not distinguishable from it (at most 3 standard errors above 0),
 * or so small that the container would still not reach its memory limit from its peak within `budgetHours`.
 */
export function slopeWithinNoise(s: ComposeSoakServiceReport, budgetHours: number): boolean {
  return (
    s.memSlopeMbPerMin <= Math.max(3 * s.memSlopeStdErr, (s.limitMb - s.cgroupPeakMb) / (budgetHours * 60))
  );
}

/** Hours until the container would reach its limit from its peak at the measured slope (Infinity if not rising). */
export function hoursToLimit(s: ComposeSoakServiceReport): number {
  return s.memSlopeMbPerMin <= 0 ? Infinity : (s.limitMb - s.cgroupPeakMb) / s.memSlopeMbPerMin / 60;
}

/** The report as a Markdown table. */
export function composeSoakTable(r: ComposeSoakReport): string {
  const head =
    '| service | requests | ok | refused (by design) | failures | throughput /s | p50 ms | p99 ms | memory start → end MiB | peak MiB (sampled / cgroup) | slope 2nd half MiB/min (± std err) | hours to limit at that slope | end state |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';
  return [
    `compose soak: ${r.seconds} s${r.warmupSeconds ? ` (memory sampled after a ${r.warmupSeconds} s warm-up)` : ''}, ${r.clients} clients per service${r.freshPictures ? ', every 10th image new' : ''}, memory from the cgroups every ${r.sampleSeconds} s (${r.samples} samples)`,
    head,
    ...r.services.map(
      (s) =>
        `| ${s.service} | ${s.requests} | ${s.ok} | ${s.refused} | ${s.failures} | ${s.throughputPerS} | ${s.p50Ms} | ${s.p99Ms} | ${s.memStartMb} → ${s.memEndMb} | ${s.memPeakMb} / ${s.cgroupPeakMb} | ${s.memSlopeMbPerMin} (± ${s.memSlopeStdErr}) | ${Number.isFinite(hoursToLimit(s)) ? `${hoursToLimit(s).toFixed(0)} h (limit ${Math.round(s.limitMb)} MiB)` : `not rising (limit ${Math.round(s.limitMb)} MiB)`} | ${s.end.running ? 'running' : 'STOPPED'}, ${s.end.health}, ${s.end.restarts} restarts${s.end.oomKilled ? ', OOM-killed' : ''} |`,
    ),
  ].join('\n');
}
