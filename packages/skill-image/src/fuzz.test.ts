// Fuzz: mutated valid images (bit flips, truncations, header/chunk edits, splices) against the real service
// process (dist/main.js, as in the container). FUZZ_COUNT inputs (300 by default; `nx run @sarai/skill-image:fuzz`
// sends 10 000). Every reply must be a valid image file inside the cache root, or a clear INVALID_ARGUMENT /
// RESOURCE_EXHAUSTED error; the process must never die, and its RSS must stay bounded.
import { connectSkill, type RpcError } from '@sarai/proto';
import type { ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILIES, encode, rng, scene, type OutFormat } from '../bench/generator.js';
import { removeTempDirs, startServiceProcess, tempDir } from './test-support/harness.js';

const COUNT = Number(process.env['FUZZ_COUNT'] ?? 300);
const PARALLEL = Number(process.env['FUZZ_PARALLEL'] ?? 4);
const RSS_LIMIT_MB = 450; // the container gets 512 MB

function rssMbOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

type Mutator = (b: Buffer, r: () => number) => Buffer;
const int = (r: () => number, n: number) => Math.floor(r() * n);

const MUTATORS: Record<string, Mutator> = {
  bitflips(b, r) {
    const o = Buffer.from(b);
    const n = 1 + int(r, 8);
    for (let i = 0; i < n; i++) {
      const p = int(r, o.length);
      o[p] = o[p] ^ (1 << int(r, 8));
    }
    return o;
  },
  truncate(b, r) {
    return b.subarray(0, int(r, b.length));
  },
  overwrite(b, r) {
    const o = Buffer.from(b);
    const at = int(r, o.length);
    const len = 1 + int(r, 32);
    for (let i = at; i < Math.min(o.length, at + len); i++) o[i] = int(r, 256);
    return o;
  },
  header(b, r) {
    // Edits in the first 64 bytes, where dimensions, chunk lengths and markers live.
    const o = Buffer.from(b);
    const n = 1 + int(r, 4);
    for (let i = 0; i < n; i++) {
      const p = int(r, Math.min(64, o.length));
      o[p] = [0x00, 0xff, 0x7f, 0x80, int(r, 256)][int(r, 5)];
    }
    return o;
  },
  dimensions(b, r) {
    // 16/32-bit big-endian fields in the header (sizes, lengths) set to extreme values.
    const o = Buffer.from(b);
    if (o.length < 4) return o;
    const p = int(r, Math.min(48, o.length - 3));
    const v = [0, 1, 0xffff, 0x7fffffff, 0xffffffff, 60000][int(r, 6)];
    if (r() < 0.5) o.writeUInt16BE(v & 0xffff, p);
    else o.writeUInt32BE(v >>> 0, p);
    return o;
  },
  splice(b, r) {
    // Duplicate or drop a slice (corrupts chunk/segment structure while keeping the magic).
    const a = 8 + int(r, Math.max(1, b.length - 8));
    const len = int(r, Math.min(4096, b.length - a + 1));
    return r() < 0.5
      ? Buffer.concat([b.subarray(0, a), b.subarray(a - len, a), b.subarray(a)])
      : Buffer.concat([b.subarray(0, a), b.subarray(a + len)]);
  },
};

describe(`fuzz: ${COUNT} mutated images against the service process`, () => {
  let svc: { child: ChildProcess; port: number; logs: string[] };
  let dir: string;
  const seeds: Array<{ name: string; bytes: Buffer }> = [];

  beforeAll(async () => {
    dir = await tempDir('skill-image-fuzz-');
    svc = await startServiceProcess({
      MALLOC_ARENA_MAX: '2',
      CACHE_DIR: dir,
      CACHE_MAX_MB: '16',
      CACHE_FSYNC: 'false',
      IMAGE_TIMEOUT_MS: '10000',
    });
    const r = rng(4242);
    const formats: OutFormat[] = ['jpeg', 'png', 'webp', 'gif', 'avif'];
    for (let i = 0; i < 15; i++) {
      const family = FAMILIES[i % FAMILIES.length];
      const w = 48 + int(r, 200);
      const h = 48 + int(r, 200);
      const f = formats[i % formats.length];
      seeds.push({
        name: `${family}-${w}x${h}.${f}`,
        bytes: await encode(scene({ family, seed: i, width: w, height: h }), f, 60 + int(r, 35)),
      });
    }
  });

  afterAll(async () => {
    if (svc?.child.exitCode === null) {
      svc.child.kill('SIGTERM');
      await new Promise((res) => svc.child.once('exit', res));
    }
    await removeTempDirs();
  });

  it(
    'never crashes; every reply is a valid image or a clear error; RSS stays bounded',
    { timeout: 60_000 + COUNT * 200 },
    async () => {
      const conn = connectSkill(`127.0.0.1:${svc.port}`, { timeoutMs: 30_000 });
      const r = rng(7);
      const names = Object.keys(MUTATORS);
      const outcomes = { ok: 0, errors: new Map<string, number>() };
      const kinds = new Map<string, number>();
      const bad: string[] = [];
      const rss: number[] = [rssMbOf(svc.child.pid ?? 0)];
      const outputs = ['webp', 'jpeg', 'png', 'avif', ''];
      let next = 0;
      const worker = async () => {
        while (next < COUNT) {
          const i = next++;
          const seed = seeds[int(r, seeds.length)];
          let bytes = seed.bytes;
          const applied: string[] = [];
          for (let k = 1 + int(r, 2); k > 0; k--) {
            const m = names[int(r, names.length)];
            bytes = MUTATORS[m](bytes, r);
            applied.push(m);
          }
          const what = `#${i} ${seed.name} ${applied.join('+')}`;
          const format = outputs[int(r, outputs.length)];
          try {
            const response = await conn.skill.preprocessImage({
              imageData: bytes,
              format,
              quality: int(r, 101),
              maxDimension: [0, 64, 128][int(r, 3)],
            }).response;
            const abs = path.resolve(dir, response.webpPath);
            if (!abs.startsWith(dir + path.sep))
              bad.push(`${what}: path outside the root: ${response.webpPath}`);
            // The file may have been evicted by a later request (16 MB budget); if present it must decode.
            const file = await fs.readFile(abs).catch(() => undefined);
            if (file) {
              const m = await sharp(file).metadata();
              if (m.width !== response.width || m.height !== response.height)
                bad.push(
                  `${what}: file is ${m.width}x${m.height}, reply says ${response.width}x${response.height}`,
                );
            }
            outcomes.ok += 1;
          } catch (e) {
            const err = e as RpcError;
            const code = String(err.code);
            outcomes.errors.set(code, (outcomes.errors.get(code) ?? 0) + 1);
            const kind = err.message.split(':').slice(0, 2).join(':').replace(/\d+/g, 'N').slice(0, 90);
            kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
            if (
              !['INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED'].includes(code) ||
              !/^IMAGE_[A-Z_]+: .{15,}/.test(err.message)
            ) {
              bad.push(`${what}: ${code} ${err.message}`);
            }
          }
          if (i % 250 === 0 || process.env['FUZZ_TRACE']) {
            const now = rssMbOf(svc.child.pid ?? 0);
            if (process.env['FUZZ_TRACE'] && now > Math.max(...rss) + 20) {
              process.stdout.write(`rss ${now.toFixed(0)} after ${what} (${bytes.length} B)\n`);
              await fs.writeFile(`/tmp/si/fuzz-${i}.bin`, bytes);
            }
            rss.push(now);
          }
        }
      };
      try {
        await Promise.all(Array.from({ length: PARALLEL }, worker));
        rss.push(rssMbOf(svc.child.pid ?? 0));
        expect(svc.child.exitCode, svc.logs.join('\n')).toBeNull();
        const health = await conn.grpcHealth.check({ service: '' }).response;
        expect(health.status).toBe(1); // SERVING
      } finally {
        conn.close();
      }
      const summary = {
        count: COUNT,
        ok: outcomes.ok,
        errors: Object.fromEntries(outcomes.errors),
        rssMb: {
          start: rss[0].toFixed(0),
          max: Math.max(...rss).toFixed(0),
          end: (rss.at(-1) ?? 0).toFixed(0),
        },
      };
      process.stdout.write(`fuzz summary: ${JSON.stringify(summary)}\n`);
      if (process.env['FUZZ_VERBOSE']) {
        for (const [k, n] of [...kinds].sort((a, b) => b[1] - a[1]))
          process.stdout.write(`  ${String(n).padStart(6)}  ${k}\n`);
      }
      expect(bad.slice(0, 20)).toEqual([]);
      expect(outcomes.ok).toBeGreaterThan(0);
      expect(outcomes.errors.get('INVALID_ARGUMENT') ?? 0).toBeGreaterThan(0);
      expect(Math.max(...rss)).toBeLessThan(RSS_LIMIT_MB);
    },
  );
});
