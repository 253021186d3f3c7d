// Same-process A/B of the image pipeline against a baseline build: miss, exact-hit and near-hit latency, requests
// interleaved (alternating which goes first) so machine load hits both alike. Prints after ÷ before ratios.
//   SKILL_IMAGE_BASELINE=<dir> node out-tsc/bench/bench/ab.js
// <dir> = the out-tsc/bench folder of a baseline checkout after `tsc -p tsconfig.bench.json` (e.g. a `git worktree`
// of the previous commit); it must resolve `sharp` and `@sarai/*` (node_modules beside or above it).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { ImagePipeline } from '../src/index.js';
import { largeJpeg } from './generator.js';

type Pipeline = Pick<ImagePipeline, 'process' | 'close'>;
interface Module {
  ImagePipeline: { open(o: { cacheDir: string }): Promise<Pipeline> };
}

const N = Number(process.env['AB_MISSES'] ?? 16);
const HITS = 400;
const NEAR = 60;

async function main(): Promise<void> {
  const base = process.env['SKILL_IMAGE_BASELINE'];
  if (!base) throw new Error('set SKILL_IMAGE_BASELINE to the out-tsc/bench folder of a baseline build');
  const old = (await import(pathToFileURL(path.join(base, 'src', 'index.js')).href)) as Module;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'skill-image-ab-'));
  const pipes: Record<'before' | 'after', Pipeline> = {
    before: await old.ImagePipeline.open({ cacheDir: path.join(root, 'before') }),
    after: await ImagePipeline.open({ cacheDir: path.join(root, 'after') }),
  };
  const series = () => ({ miss: [] as number[], exact: [] as number[], near: [] as number[] });
  const t = { before: series(), after: series() };
  const order = (i: number) => (i % 2 ? (['before', 'after'] as const) : (['after', 'before'] as const));
  const run = async (k: 'before' | 'after', b: Buffer, kind: 'miss' | 'exact' | 'near') => {
    const s = performance.now();
    const r = await pipes[k].process(b);
    const ms = performance.now() - s;
    if (r.cache === kind) t[k][kind].push(ms);
    else if (kind !== 'near') throw new Error(`${k}: expected ${kind}, got ${r.cache}`);
  };
  try {
    for (const k of ['before', 'after'] as const) await pipes[k].process(await largeJpeg(98)); // warm-up
    const photos: Buffer[] = [];
    for (let i = 0; i < N; i++) photos.push(await largeJpeg(100 + i));
    for (const [i, p] of photos.entries()) for (const k of order(i)) await run(k, p, 'miss');
    for (let i = 0; i < HITS; i++) for (const k of order(i)) await run(k, photos[i % N], 'exact');
    for (let i = 0; i < NEAR; i++) {
      const dup = await sharp(photos[i % N])
        .resize(800 + ((i * 37) % 800))
        .jpeg({ quality: 55 + ((i * 13) % 40) })
        .toBuffer();
      for (const k of order(i)) await run(k, dup, 'near');
    }
  } finally {
    for (const p of Object.values(pipes)) await p.close();
    await fs.rm(root, { recursive: true, force: true });
  }
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const rows: Array<[string, number, number]> = [
    [`miss (1600×1200 JPEG → WebP q80), p50 ms, n=${N}`, p50(t.before.miss), p50(t.after.miss)],
    ['miss, total ms', sum(t.before.miss), sum(t.after.miss)],
    [`exact hit, p50 ms, n=${HITS}`, p50(t.before.exact), p50(t.after.exact)],
    ['exact hit, total ms', sum(t.before.exact), sum(t.after.exact)],
    [
      `near hit, p50 ms (${t.before.near.length} / ${t.after.near.length} of ${NEAR} near)`,
      p50(t.before.near),
      p50(t.after.near),
    ],
  ];
  const out = [`skill-image A/B vs ${base} (same process, interleaved; load ${os.loadavg()[0].toFixed(1)})`];
  for (const [n, b, a] of rows)
    out.push(
      `${n.padEnd(48)} before ${b.toFixed(2).padStart(9)}  after ${a.toFixed(2).padStart(9)}  ${(a / b).toFixed(3)}×`,
    );
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`ab failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
