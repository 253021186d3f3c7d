// skill-image benchmark: nx run @sarai/skill-image:bench (BENCH_QUICK=1 for a smoke run).
//
// The service runs as its own process (dist/main.js, the container's entrypoint) and is called over loopback gRPC;
// the baseline is the same pipeline in this process (ImagePipeline, compiled from the same sources). Both write to their own
// fresh cache directory with the production settings (fsync on). Prints one table; ratios are against baselines
// measured in the same run.
import { runBench, type BenchContext } from '@sarai/formats';
import { connectSkill, preprocessImageHashFirst, type ImageReply, type SkillConnection } from '@sarai/proto';
import { ImagePipeline } from '../src/index.js';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { encode, largeJpeg, replayWorkload, rng, scene } from './generator.js';
import { startServiceProcess, stopServiceProcess } from './service-process.js';

const QUICK = process.env['BENCH_QUICK'] === '1';
const N_MISS = QUICK ? 4 : 16;
const N_HIT = QUICK ? 60 : 400;
const N_NEAR = QUICK ? 12 : 60;
const N_THROUGHPUT_HITS = QUICK ? 60 : 300;
const N_THROUGHPUT_MISS = QUICK ? 4 : 12;
const N_REPLAY = QUICK ? 60 : 400;

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

type Svc = Awaited<ReturnType<typeof startServiceProcess>>;
let CTX: BenchContext | undefined;
const PKG = path.join(import.meta.dirname, '..', '..', '..'); // packages/skill-image (from out-tsc/bench/bench)

async function service(dir: string): Promise<{
  svc: Svc;
  conn: SkillConnection;
  call: (b: Uint8Array, format?: string) => Promise<ImageReply>;
}> {
  const svc = await startServiceProcess({ CACHE_DIR: dir, MALLOC_ARENA_MAX: '2' });
  CTX?.track(svc.child);
  const conn = connectSkill(`127.0.0.1:${svc.port}`);
  return {
    svc,
    conn,
    call: (b, format = '') =>
      conn.skill.preprocessImage({ imageData: b, format, quality: 0, maxDimension: 0 }).response,
  };
}

async function main(ctx: BenchContext): Promise<{ text: string }> {
  CTX = ctx;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'skill-image-bench-'));
  ctx.onCleanup(() => fs.rm(root, { recursive: true, force: true }));
  const rows: Array<[string, string, string]> = [];
  try {
    log(`generating inputs (${QUICK ? 'quick' : 'full'} run)`);
    const photos: Buffer[] = [];
    for (let i = 0; i < N_MISS; i++) photos.push(await largeJpeg(100 + i));
    const avgKb = photos.reduce((a, b) => a + b.length, 0) / photos.length / 1024;

    const { svc, conn, call } = await service(path.join(root, 'grpc'));
    const local = await ImagePipeline.open({ cacheDir: path.join(root, 'local') });
    try {
      // 1. Miss path: gRPC vs in-process, alternating which goes first.
      log('miss path');
      const tLocal: number[] = [];
      const tGrpc: number[] = [];
      await call(await largeJpeg(99)); // warm-up both (connection, libvips init)
      await local.process(await largeJpeg(98));
      for (const [i, p] of photos.entries()) {
        const runLocal = async () => tLocal.push((await timed(() => local.process(p)))[1]);
        const runGrpc = async () => {
          const [r, t] = await timed(() => call(p));
          if (r.cache !== 'miss') throw new Error(`expected a miss, got ${r.cache}`);
          tGrpc.push(t);
        };
        if (i % 2 === 0) await runLocal().then(runGrpc);
        else await runGrpc().then(runLocal);
      }
      const sumL = tLocal.reduce((a, b) => a + b, 0);
      const sumG = tGrpc.reduce((a, b) => a + b, 0);
      rows.push([
        `miss: gRPC ÷ in-process, ${N_MISS} × 1600×1200 JPEG (${avgKb.toFixed(0)} KiB) → WebP q80 1024 px`,
        `${(sumG / sumL).toFixed(3)}× (p50 ${ms(pct(tGrpc, 0.5))} vs ${ms(pct(tLocal, 0.5))} ms)`,
        '≤ 1.15×',
      ]);

      // 2. Exact-repeat hits of a ~1 MB JPEG, and the transport alone as context.
      log('exact hits');
      const big = photos[0];
      // Before (the bytes sent every time) and after (hash-first: sha256 on the client, bytes only on a miss),
      // interleaved call by call.
      const tHit: number[] = [];
      const tHashFirst: number[] = [];
      for (let i = 0; i < N_HIT; i++) {
        const [r, t] = await timed(() => call(big));
        if (r.cache !== 'exact') throw new Error(`expected an exact hit, got ${r.cache}`);
        tHit.push(t);
        const [h, th] = await timed(() => preprocessImageHashFirst(conn.skill, big));
        if (h.cache !== 'exact' || h.uploaded)
          throw new Error(`expected a hash-only exact hit, got ${h.cache}`);
        tHashFirst.push(th);
      }
      rows.push([
        `exact hit over gRPC, ${(big.length / 1024).toFixed(0)} KiB JPEG sent every time (before), p50 / p99 (n=${N_HIT})`,
        `${ms(pct(tHit, 0.5))} / ${ms(pct(tHit, 0.99))} ms`,
        '',
      ]);
      rows.push([
        `exact hit over gRPC, hash-first (client sha256, no bytes sent), p50 / p99 (n=${N_HIT})`,
        `${ms(pct(tHashFirst, 0.5))} / ${ms(pct(tHashFirst, 0.99))} ms (${(pct(tHit, 0.5) / pct(tHashFirst, 0.5)).toFixed(1)}× faster)`,
        'p50 ≤ 3 ms',
      ]);
      Object.assign(CTX?.results ?? {}, {
        exactHitBytesP50Ms: pct(tHit, 0.5),
        exactHitHashFirstP50Ms: pct(tHashFirst, 0.5),
        exactHitHashFirstP99Ms: pct(tHashFirst, 0.99),
        exactHitJpegBytes: big.length,
      });
      const tWire: number[] = [];
      const gen = {
        prompt: 'x'.repeat(big.length),
        maxTokens: 1,
        stop: [],
        temperature: 0,
        grammar: '',
        adapter: '',
        logprobs: false,
      };
      for (let i = 0; i < N_HIT; i++)
        tWire.push((await timed(() => conn.skill.generate(gen).response.catch(() => null)))[1]);
      if (CTX) CTX.results['noopUnarySameSizeP50Ms'] = pct(tWire, 0.5);
      rows.push([
        `  context: same-size unary call doing no work (UNIMPLEMENTED), p50 / p99`,
        `${ms(pct(tWire, 0.5))} / ${ms(pct(tWire, 0.99))} ms`,
        '',
      ]);
      const tLocalHit: number[] = [];
      for (let i = 0; i < N_HIT; i++) tLocalHit.push((await timed(() => local.process(big)))[1]);
      rows.push([
        `  context: exact hit in-process (sha256 + 2 syscalls), p50 / p99`,
        `${ms(pct(tLocalHit, 0.5))} / ${ms(pct(tLocalHit, 0.99))} ms`,
        '',
      ]);

      // 3. Near-duplicate hits: each request's bytes are new (re-encoded / resized copies of a cached picture).
      log('near hits');
      const r0 = rng(5);
      const tNear: number[] = [];
      let nearHits = 0;
      for (let i = 0; i < N_NEAR; i++) {
        const q = 55 + Math.floor(r0() * 40);
        const w = 800 + Math.floor(r0() * 800);
        const dup = await sharp(photos[i % photos.length])
          .resize(w)
          .jpeg({ quality: q })
          .toBuffer();
        const [r, t] = await timed(() => call(dup));
        if (r.cache === 'near') nearHits += 1;
        tNear.push(t);
      }
      rows.push([
        `near-duplicate hit over gRPC (resized + re-encoded copies), p50 / p99`,
        `${ms(pct(tNear, 0.5))} / ${ms(pct(tNear, 0.99))} ms`,
        `${nearHits}/${N_NEAR} near`,
      ]);

      // 4. Throughput with 1, 2, 4 concurrent clients (one channel each).
      log('throughput');
      const hitRate: string[] = [];
      const missRate: string[] = [];
      for (const clients of [1, 2, 4]) {
        const conns = Array.from({ length: clients }, () => connectSkill(`127.0.0.1:${svc.port}`));
        try {
          await Promise.all(conns.map((c) => c.skill.imageCacheStats({}).response));
          let left = N_THROUGHPUT_HITS;
          const [, tH] = await timed(() =>
            Promise.all(
              conns.map(async (c) => {
                while (left-- > 0)
                  await c.skill.preprocessImage({ imageData: big, format: '', quality: 0, maxDimension: 0 })
                    .response;
              }),
            ),
          );
          hitRate.push(((N_THROUGHPUT_HITS / tH) * 1000).toFixed(0));
          const fresh: Buffer[] = [];
          for (let i = 0; i < N_THROUGHPUT_MISS; i++)
            fresh.push(
              await encode(
                scene({ family: 'photo', seed: 1000 * clients + i, width: 1024, height: 768 }),
                'jpeg',
                88,
              ),
            );
          let next = 0;
          const [, tM] = await timed(() =>
            Promise.all(
              conns.map(async (c) => {
                while (next < fresh.length) {
                  const b = fresh[next++];
                  await c.skill.preprocessImage({ imageData: b, format: '', quality: 0, maxDimension: 0 })
                    .response;
                }
              }),
            ),
          );
          missRate.push(((N_THROUGHPUT_MISS / tM) * 1000).toFixed(1));
        } finally {
          for (const c of conns) c.close();
        }
      }
      rows.push([
        `throughput, exact hits of the ${(big.length / 1024).toFixed(0)} KiB JPEG, 1 / 2 / 4 clients`,
        `${hitRate.join(' / ')} req/s`,
        '',
      ]);
      rows.push([
        `throughput, misses (1024×768 JPEG → WebP), 1 / 2 / 4 clients`,
        `${missRate.join(' / ')} img/s`,
        '2 cores',
      ]);
    } finally {
      conn.close();
      await local.close();
      await stopServiceProcess(svc.child);
    }

    // 5. Replay workload on a fresh cache: hit rate and false hits against the generator's ground truth.
    log(`replay workload (${N_REPLAY} requests)`);
    const items = await replayWorkload({ seed: 2026, count: N_REPLAY });
    const replay = await service(path.join(root, 'replay'));
    try {
      const owner = new Map<string, string>(); // entry dir → picture that created it
      let exact = 0;
      let near = 0;
      let upgraded = 0;
      let falseHits = 0;
      let nearMissed = 0;
      let nearTotal = 0;
      const [, tReplay] = await timed(async () => {
        for (const it of items) {
          const r = await replay.call(it.bytes);
          const entry = path.posix.dirname(r.webpPath);
          if (it.kind === 'near') nearTotal += 1;
          if (r.cache === 'exact') exact += 1;
          else if (r.cache === 'near') near += 1;
          const known = owner.get(entry);
          if (known === undefined) {
            owner.set(entry, it.picture);
            if (it.kind === 'near') nearMissed += 1;
          } else if (known !== it.picture) {
            falseHits += 1; // served (or overwrote) another picture's entry
          } else if (r.cache === 'miss') {
            upgraded += 1; // matched its picture, re-encoded because this copy is larger than the cached one's source
          }
        }
      });
      const stats = await replay.conn.skill.imageCacheStats({}).response;
      const ideal = items.filter((i) => i.kind !== 'new').length;
      const hits = exact + near + upgraded;
      rows.push([
        `replay: ${N_REPLAY} requests (${items.filter((i) => i.kind === 'repeat').length} repeats, ${nearTotal} near-dups, ${N_REPLAY - ideal} new incl. look-alikes)`,
        `matched ${((hits / N_REPLAY) * 100).toFixed(1)} % (exact ${exact}, near ${near}, near+upgraded ${upgraded})`,
        `ideal ${((ideal / N_REPLAY) * 100).toFixed(1)} %`,
      ]);
      rows.push([
        `replay: false matches (another picture's entry returned/overwritten)`,
        `${falseHits} of ${hits} matches (${hits ? ((falseHits / hits) * 100).toFixed(2) : '0'} %)`,
        '0',
      ]);
      rows.push([
        `replay: hit rate as counted by the service (ImageCacheStats)`,
        `${(stats.hitRate * 100).toFixed(1)} %`,
        '',
      ]);
      rows.push([
        `replay: near-duplicates not matched (recomputed: safe, costs time)`,
        `${nearMissed} of ${nearTotal}`,
        '',
      ]);
      rows.push([
        `replay: perceptual candidates refused by the collision guard`,
        `${stats.rejectedNearHits}`,
        '',
      ]);
      rows.push([`replay: throughput, 1 client`, `${((N_REPLAY / tReplay) * 1000).toFixed(1)} req/s`, '']);
    } finally {
      replay.conn.close();
      await stopServiceProcess(replay.svc.child);
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }

  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const line = `+-${'-'.repeat(w0)}-+-${'-'.repeat(w1)}-+-${'-'.repeat(12)}-+`;
  const out = [
    `skill-image benchmark (${QUICK ? 'quick' : 'full'}), ${os.cpus().length} cores, load ${ctx.loadavg()}, Node ${process.version}, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}`,
    line,
    `| ${'measure'.padEnd(w0)} | ${'result'.padEnd(w1)} | ${'goal'.padEnd(12)} |`,
    line,
    ...rows.map((r) => `| ${r[0].padEnd(w0)} | ${r[1].padEnd(w1)} | ${r[2].padEnd(12)} |`),
    line,
  ];
  ctx.results['rows'] = rows.map(([measure, result, goal]) => ({ measure, result, goal }));
  return { text: out.join('\n') };
}

void runBench({ packageDir: PKG }, main);
