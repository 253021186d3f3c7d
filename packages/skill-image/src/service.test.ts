import { GenReq, grpcHealthV1, HealthCheckResponse_ServingStatus } from '@sarai/proto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, nearDuplicate, scene, smallEdit, type Family } from '../bench/generator.js';
import { closeLocalPipelines, preprocessImageLocal } from './index.js';
import {
  expectInsideRoot,
  removeTempDirs,
  startHarness,
  tempDir,
  variantFiles,
  type Harness,
} from './test-support/harness.js';
import { cacheEntryDir, variantRecord, variantsOf, writeEntryFile } from './test-support/cache-entries.js';

const jpeg = (family: Family, seed: number, q = 90, size?: [number, number]) =>
  encode(scene({ family, seed, ...(size ? { width: size[0], height: size[1] } : {}) }), 'jpeg', q);

describe('skill-image service on loopback', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ metricsPort: 0 });
  });
  afterAll(async () => {
    await h.stop();
  });

  it('serves both health protocols and answers UNIMPLEMENTED for the other Skill methods', async () => {
    const std = await h.conn.grpcHealth.check({ service: '' }).response;
    expect(std.status).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);
    const seed = await h.conn.health.check({ service: 'skills.Skill' }).response;
    expect(seed.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const gen = await h.conn.skill.generate(GenReq.create({ prompt: 'x' })).response.then(
      () => null,
      (e: { code: string }) => e.code,
    );
    expect(gen).toBe('UNIMPLEMENTED');
  });

  it('encodes every output format and quality and fits max_dimension without enlarging', async () => {
    const input = await jpeg('photo', 1, 92, [800, 600]);
    const cases = [
      { format: '', quality: 0, want: 'webp' },
      { format: 'webp', quality: 30, want: 'webp' },
      { format: 'webp', quality: 95, want: 'webp' },
      { format: 'jpeg', quality: 0, want: 'jpeg' },
      { format: 'jpeg', quality: 40, want: 'jpeg' },
      { format: 'avif', quality: 0, want: 'heif' },
      { format: 'avif', quality: 70, want: 'heif' },
      { format: 'png', quality: 0, want: 'png' },
      { format: 'png', quality: 50, want: 'png' },
    ];
    const paths = new Set<string>();
    const sizes: Record<string, number> = {};
    for (const c of cases) {
      const r = await h.call(input, { format: c.format, quality: c.quality, maxDimension: 320 });
      const abs = path.join(h.dir, r.webpPath);
      const file = await fs.readFile(abs);
      const meta = await sharp(file).metadata();
      expect(meta.format, `${c.format} q${c.quality}`).toBe(c.want);
      expect([meta.width, meta.height]).toEqual([320, 240]);
      expect([r.width, r.height]).toEqual([320, 240]);
      expect(Number(r.bytes)).toBe(file.length);
      expect(r.format).toBe(c.format || 'webp');
      expect(r.perceptualHash).toMatch(/^[0-9a-f]{64}$/);
      expect(r.contentHash).toMatch(/^[0-9a-f]{64}$/);
      expect(r.ramMb).toBeGreaterThan(0);
      paths.add(r.webpPath);
      sizes[`${c.format}${c.quality}`] = file.length;
    }
    expect(paths.size).toBe(cases.length); // one variant file per (format, quality)
    expect(sizes['webp30']).toBeLessThan(sizes['webp95']);
    expect(sizes['jpeg40']).toBeLessThan(sizes['jpeg0']);
    // Never enlarges; a larger max_dimension keeps the original size.
    const big = await h.call(input, { maxDimension: 4000 });
    expect([big.width, big.height]).toEqual([800, 600]);
    // Same bytes, same options → exact hit on the same file.
    const again = await h.call(input, { format: 'jpeg', quality: 40, maxDimension: 320 });
    expect(again.cache).toBe('exact');
  });

  it('accepts jpeg, png, webp, gif and avif input', async () => {
    const c = scene({ family: 'photo', seed: 2, width: 320, height: 240 });
    for (const f of ['jpeg', 'png', 'webp', 'gif', 'avif'] as const) {
      const r = await h.call(await encode(c, f, 85));
      expect([r.width, r.height], f).toEqual([320, 240]);
    }
  });

  it('applies EXIF orientation and strips metadata (EXIF, GPS) from the output', async () => {
    const rotated = await scene({ family: 'photo', seed: 3, width: 300, height: 200 })
      .sharp()
      .jpeg()
      .withMetadata({ orientation: 6 })
      .withExif({
        IFD0: { Copyright: 'private' },
        IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '40/1 26/1 46/1' },
      })
      .toBuffer();
    expect((await sharp(rotated).metadata()).exif).toBeDefined();
    const r = await h.call(rotated);
    expect([r.width, r.height]).toEqual([200, 300]);
    const out = await sharp(await fs.readFile(path.join(h.dir, r.webpPath))).metadata();
    expect(out.exif).toBeUndefined();
    expect(out.orientation).toBeUndefined();
  });

  it('maps near-duplicates (re-encoded, recompressed, resized, converted) to the same entry', async () => {
    for (const [family, seed] of [
      ['photo', 10],
      ['document', 11],
      ['gradient', 12],
      ['dark', 13],
      ['flat', 14],
    ] as const) {
      const original = await jpeg(family, seed, 92, [640, 480]);
      const first = await h.call(original);
      expect(first.cache).toBe('miss');
      const dups = [
        await sharp(original).jpeg({ quality: 45 }).toBuffer(),
        await sharp(original).jpeg({ quality: 75 }).toBuffer(),
        // Lossy WebP changes colours regionally (its own YUV conversion) by about the fine check's limit: lossless here.
        await sharp(original).webp({ lossless: true }).toBuffer(),
        await sharp(original).png().toBuffer(),
        await sharp(original).resize(320).jpeg({ quality: 85 }).toBuffer(),
        await sharp(original).resize(480).png().toBuffer(),
      ];
      // The fine check (keys v3) refuses some lossy copies whose colours shift regionally (a miss is recomputed,
      // never wrong; README: calibration): a copy hits this picture's first entry or the entry of an earlier copy
      // that missed, never another picture's, and at least half hit the first entry.
      const own = new Set([first.webpPath]);
      let found = 0;
      for (const [i, d] of dups.entries()) {
        const r = await h.call(d);
        expect(r.cache, `${family} dup ${i}`).not.toBe('exact');
        if (r.cache === 'near') expect(own.has(r.webpPath), `${family} dup ${i}`).toBe(true);
        own.add(r.webpPath);
        if (r.webpPath === first.webpPath) found += 1;
        // The copy's own bytes now hit exactly.
        expect((await h.call(d)).cache).toBe('exact');
      }
      expect(found, family).toBeGreaterThanOrEqual(3);
    }
  });

  it('re-encodes from a larger copy when the cached variant came from a smaller one', async () => {
    const original = await jpeg('photo', 20, 92, [800, 600]);
    const small = await sharp(original).resize(200).jpeg({ quality: 90 }).toBuffer();
    const first = await h.call(small, { maxDimension: 512 });
    expect([first.width, first.height]).toEqual([200, 150]);
    const upgraded = await h.call(original, { maxDimension: 512 });
    expect(upgraded.cache).toBe('miss');
    expect(upgraded.webpPath).toBe(first.webpPath);
    expect([upgraded.width, upgraded.height]).toEqual([512, 384]);
    // The small copy now gets the better file.
    expect((await h.call(small, { maxDimension: 512 })).width).toBe(512);
  });

  it('never lets different pictures share an entry, flat, dark, low-contrast and small edits included', async () => {
    const pictures: Buffer[] = [];
    // Flat colours, including close ones and the extremes.
    for (const c of [
      [0, 0, 0],
      [255, 255, 255],
      [40, 40, 40],
      [128, 128, 128],
      [140, 128, 128],
      [200, 30, 30],
      [30, 200, 30],
      [30, 30, 200],
    ] as const) {
      pictures.push(
        await sharp({
          create: { width: 320, height: 240, channels: 3, background: { r: c[0], g: c[1], b: c[2] } },
        })
          .png()
          .toBuffer(),
      );
    }
    // Same flat colour at another aspect ratio is another picture too.
    pictures.push(
      await sharp({ create: { width: 240, height: 320, channels: 3, background: { r: 0, g: 0, b: 0 } } })
        .png()
        .toBuffer(),
    );
    for (let s = 0; s < 4; s++) {
      for (const f of ['dark', 'lowcontrast', 'gradient', 'document'] as const)
        pictures.push(await jpeg(f, 100 + s, 90, [480, 360]));
    }
    // Look-alikes: the same page or scene with one small region changed.
    for (let s = 0; s < 4; s++) {
      for (const f of ['document', 'photo', 'dark'] as const) {
        const base = scene({ family: f, seed: 200 + s, width: 480, height: 360 });
        pictures.push(await encode(base, 'jpeg', 90), await encode(smallEdit(base, s), 'jpeg', 90));
      }
    }
    const seen = new Map<string, number>();
    for (const [i, p] of pictures.entries()) {
      const r = await h.call(p);
      expect(r.cache, `picture ${i}`).toBe('miss');
      const entry = path.dirname(r.webpPath);
      expect(seen.has(entry), `picture ${i} shares an entry with picture ${seen.get(entry)}`).toBe(false);
      seen.set(entry, i);
    }
    const stats = await h.conn.skill.imageCacheStats({}).response;
    expect(Number(stats.rejectedNearHits)).toBeGreaterThan(0); // the guard did refuse perceptual collisions
  });

  it('computes concurrent identical requests once: one file, one miss', async () => {
    const input = await jpeg('photo', 30, 90, [640, 480]);
    const before = await h.conn.skill.imageCacheStats({}).response;
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => h.call(input, { format: 'webp', quality: 77 })),
    );
    expect(new Set(replies.map((r) => r.webpPath)).size).toBe(1);
    expect(replies.filter((r) => r.cache === 'miss')).toHaveLength(1);
    const entryDir = path.join(h.dir, path.dirname(replies[0].webpPath));
    const files = (await fs.readdir(entryDir)).filter((f) => f !== 'entry.json');
    expect(files).toEqual([path.basename(replies[0].webpPath)]);
    const after = await h.conn.skill.imageCacheStats({}).response;
    expect(Number(after.misses) - Number(before.misses)).toBe(1);
    // Concurrent near-duplicates (different bytes, same picture) also end in one entry.
    const original = await jpeg('gradient', 31, 92, [640, 480]);
    const dups = await Promise.all(
      [70, 80, 90, 95].map((q) => sharp(original).jpeg({ quality: q }).toBuffer()),
    );
    const near = await Promise.all(dups.map((d) => h.call(d, { format: 'jpeg' })));
    expect(new Set(near.map((r) => r.webpPath)).size).toBe(1);
  });

  it('reports cache statistics over the RPC and Prometheus', async () => {
    const s = await h.conn.skill.imageCacheStats({}).response;
    expect(Number(s.misses)).toBeGreaterThan(0);
    expect(Number(s.exactHits)).toBeGreaterThan(0);
    expect(Number(s.nearHits)).toBeGreaterThan(0);
    expect(Number(s.entries)).toBeGreaterThan(0);
    expect(Number(s.bytes)).toBeGreaterThan(0);
    expect(s.hitRate).toBeGreaterThan(0);
    expect(s.hitRate).toBeLessThan(1);
    const text = await (await fetch(`http://127.0.0.1:${h.skill.running.metricsPort}/metrics`)).text();
    expect(text).toMatch(/sarai_image_cache_requests_total\{result="near",format="webp"[^}]*\} \d+/);
    expect(text).toMatch(/sarai_image_cache_entries\{[^}]*\} [1-9]/);
    expect(text).toMatch(/sarai_image_cache_hit_ratio/);
    expect(text).toMatch(/sarai_image_input_bytes_total\{[^}]*\} [1-9]/);
    expect(text).toMatch(/sarai_image_stage_duration_seconds_bucket\{[^}]*stage="encode"/);
    expect(text).toMatch(/sarai_grpc_request_duration_seconds_bucket\{[^}]*method="PreprocessImage"/);
    expect(text).toMatch(/sarai_process_rss_bytes/);
  });

  it('refuses bad input with INVALID_ARGUMENT or RESOURCE_EXHAUSTED and a message saying what was wrong', async () => {
    const good = await jpeg('photo', 40, 90, [320, 240]);
    const png = await encode(scene({ family: 'photo', seed: 40, width: 320, height: 240 }), 'png');
    const tiff = await sharp(good).tiff().toBuffer();
    const hugeHeader = Buffer.from(good);
    // JPEG SOF0 height/width → 60000×60000 (3.6 GP): a decompression bomb by its header.
    const sof = hugeHeader.indexOf(Buffer.from([0xff, 0xc0]));
    hugeHeader.writeUInt16BE(60000, sof + 5);
    hugeHeader.writeUInt16BE(60000, sof + 7);
    const badCrc = Buffer.from(png);
    badCrc[40] = badCrc[40] ^ 0xff;
    const cases: Array<[string, Uint8Array, string, RegExp, object?]> = [
      ['empty', new Uint8Array(0), 'INVALID_ARGUMENT', /IMAGE_EMPTY: image_data is empty/],
      [
        'text',
        Buffer.from('hello, this is not an image at all\n'.repeat(4)),
        'INVALID_ARGUMENT',
        /is text, not an accepted image/,
      ],
      [
        'svg',
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
        'INVALID_ARGUMENT',
        /is SVG/,
      ],
      ['tiff', tiff, 'INVALID_ARGUMENT', /TIFF input is not accepted/],
      [
        'random',
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251),
        'INVALID_ARGUMENT',
        /not a recognised image/,
      ],
      [
        'truncated',
        good.subarray(0, Math.floor(good.length / 2)),
        'INVALID_ARGUMENT',
        /IMAGE_CORRUPT: JPEG data is corrupt or truncated/,
      ],
      ['png crc', badCrc, 'INVALID_ARGUMENT', /IMAGE_CORRUPT: PNG/],
      ['bomb header', hugeHeader, 'RESOURCE_EXHAUSTED', /IMAGE_TOO_LARGE: .*60000.*over the 50\.0 MP limit/],
      ['bad format', good, 'INVALID_ARGUMENT', /format "bmp" is not supported/, { format: 'bmp' }],
      ['bad quality', good, 'INVALID_ARGUMENT', /quality must be an integer from 1 to 100/, { quality: 101 }],
      ['bad dimension', good, 'INVALID_ARGUMENT', /max_dimension must be/, { maxDimension: -5 }],
    ];
    for (const [name, bytes, code, msg, opts] of cases) {
      const e = await h.fail(bytes, opts);
      expect(e.code, name).toBe(code);
      expect(e.message, name).toMatch(msg);
    }
    // A real bomb: 8000×8000 (64 MP) of one colour compresses to a few KB.
    const bomb = await sharp({
      create: { width: 8000, height: 8000, channels: 3, background: { r: 0, g: 0, b: 0 } },
    })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(200_000);
    const e = await h.fail(bomb);
    expect(e.code).toBe('RESOURCE_EXHAUSTED');
    expect(e.message).toMatch(/8000×8000 = 64\.0 MP, over the 50\.0 MP limit/);
    // Still serving.
    expect((await h.call(good)).webpPath).toMatch(/^e\//);
  });
});

describe('limits', () => {
  it('refuses messages over the gRPC limit with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const h = await startHarness({ maxMessageBytes: 256 * 1024 });
    try {
      const big = await sharp({
        create: {
          width: 600,
          height: 600,
          channels: 3,
          background: '#000000',
          noise: { type: 'gaussian', mean: 128, sigma: 60 },
        },
      })
        .png()
        .toBuffer();
      expect(big.length).toBeGreaterThan(256 * 1024);
      const e = await h.fail(big);
      expect(e.code).toBe('RESOURCE_EXHAUSTED');
      expect(e.message).toMatch(/limit/);
      expect((await h.call(await jpeg('photo', 50, 80, [200, 150]))).cache).toBe('miss');
    } finally {
      await h.stop();
    }
  });

  it('gives up on work over the per-request timeout with DEADLINE_EXCEEDED and keeps serving', async () => {
    // Effort-9 AVIF of a 2000×2000 noise picture takes seconds; the budget is 200 ms.
    const h = await startHarness({ pipeline: { timeoutMs: 200, avifEffort: 9 } });
    try {
      const noisy = await sharp({
        create: {
          width: 2000,
          height: 2000,
          channels: 3,
          background: '#000000',
          noise: { type: 'gaussian', mean: 128, sigma: 50 },
        },
      })
        .jpeg()
        .toBuffer();
      const e = await h.fail(noisy, { format: 'avif', maxDimension: 2000 });
      expect(e.code).toBe('DEADLINE_EXCEEDED');
      expect(e.message).toMatch(/IMAGE_TIMEOUT/);
      expect((await h.call(await jpeg('photo', 51, 80, [160, 120]), { format: 'jpeg' })).cache).toBe('miss');
    } finally {
      await h.stop();
    }
  });

  it('refuses images whose decode would exceed the memory budget, and admits them one at a time under it', async () => {
    const h = await startHarness({ pipeline: { decodeMemoryBytes: 32 * 1024 * 1024 } });
    try {
      const webp = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#336699' } })
        .webp()
        .toBuffer();
      const e = await h.fail(webp);
      expect(e.code).toBe('RESOURCE_EXHAUSTED');
      expect(e.message).toMatch(
        /a 2000×2000 WEBP needs about \d+ MiB to decode, over this service's 32 MiB decode budget/,
      );
      // JPEG streams: the same size fits.
      const jpg = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#336699' } })
        .jpeg()
        .toBuffer();
      const ok = await Promise.all([
        h.call(jpg),
        h.call(await sharp(jpg).jpeg({ quality: 50 }).toBuffer(), { format: 'png' }),
      ]);
      expect(ok.map((r) => r.width)).toEqual([1024, 1024]);
    } finally {
      await h.stop();
    }
  });

  it('evicts least-recently-used entries over the size budget', async () => {
    const h = await startHarness({ pipeline: { maxCacheBytes: 20_000 } });
    try {
      const inputs = await Promise.all(
        Array.from({ length: 8 }, (_, i) => jpeg('noise', 60 + i, 90, [320, 240])),
      );
      const opts = { format: 'webp', maxDimension: 128 };
      const first = await h.call(inputs[0], opts);
      for (const b of inputs.slice(1)) {
        await h.call(b, opts);
        await h.call(inputs[0], opts); // keep the first one recently used
      }
      const s = await h.conn.skill.imageCacheStats({}).response;
      expect(Number(s.evictions)).toBeGreaterThan(0);
      expect(Number(s.bytes)).toBeLessThanOrEqual(20_000);
      const files = await variantFiles(h.dir);
      const onDisk = await Promise.all(files.map(async (f) => (await fs.stat(path.join(h.dir, f))).size));
      expect(onDisk.reduce((a, b) => a + b, 0)).toBe(Number(s.bytes));
      expect(files).toContain(first.webpPath); // recently used survives
      // The oldest of the others was evicted: asking again recomputes it.
      expect((await h.call(inputs[1], opts)).cache).toBe('miss');
    } finally {
      await h.stop();
    }
  });
});

describe('persistence and the host fallback', () => {
  it('keeps the index across restarts (exact and near hits) and ignores tampered entries', async () => {
    const dir = await tempDir();
    const original = await jpeg('photo', 70, 92, [640, 480]);
    const a = await startHarness({ dir });
    const first = await a.call(original);
    await a.stop();

    // Tamper with the volume while the service is down: an entry whose variant is a symlink out of the root,
    // and one whose file name tries to escape.
    const evilId = 'f'.repeat(32);
    const evilDir = await cacheEntryDir(dir, evilId);
    await fs.symlink('/etc/passwd', path.join(evilDir, 'webp-q80-d1024.webp'));
    const firstEntry = JSON.parse(
      await fs.readFile(path.join(dir, path.dirname(first.webpPath), 'entry.json'), 'utf8'),
    ) as Record<string, unknown>;
    await writeEntryFile(dir, {
      ...firstEntry,
      id: evilId,
      phash: 'f0'.repeat(32),
      contents: ['0'.repeat(64)],
      variants: variantsOf(
        variantRecord(),
        variantRecord({ file: '../../../../etc/passwd', format: 'png', quality: 0 }),
      ),
    });

    const b = await startHarness({ dir });
    try {
      expect(Number((await b.conn.skill.imageCacheStats({}).response).entries)).toBe(2);
      const again = await b.call(original);
      expect(again.cache).toBe('exact');
      expect(again.webpPath).toBe(first.webpPath);
      const near = await b.call(await sharp(original).jpeg({ quality: 60 }).toBuffer());
      expect(near.cache).toBe('near');
      expect(near.webpPath).toBe(first.webpPath);
      // Every path the service hands out is inside the root (checked by the harness on each call).
      const other = await b.call(await sharp(original).resize(300).png().toBuffer(), { format: 'png' });
      await expectInsideRoot(dir, other.webpPath);
    } finally {
      await b.stop();
    }
  });

  it('evicts entries older than the age budget when it opens', async () => {
    const dir = await tempDir();
    const a = await startHarness({ dir });
    await a.call(await jpeg('photo', 75, 90, [320, 240]));
    await a.call(await jpeg('photo', 76, 90, [320, 240]));
    await a.stop();
    await new Promise((r) => setTimeout(r, 20));
    const b = await startHarness({ dir, pipeline: { maxCacheAgeMs: 10 } });
    try {
      const s = await b.conn.skill.imageCacheStats({}).response;
      expect(s).toMatchObject({ entries: '0', evictions: '2', bytes: '0' });
      expect(await variantFiles(dir)).toEqual([]);
    } finally {
      await b.stop();
    }
  });

  it('the in-process fallback writes the same hash and file layout, and the service then hits it', async () => {
    const dir = await tempDir();
    const other = await tempDir();
    const input = await jpeg('document', 80, 90, [600, 800]);
    try {
      const local = await preprocessImageLocal(input, { format: 'webp', quality: 0, maxDimension: 0 }, dir, {
        fsync: false,
      });
      expect(local.cache).toBe('miss');
      await expectInsideRoot(dir, local.path);
      expect(local.absolutePath).toBe(path.join(await fs.realpath(dir), local.path));

      // Same pipeline over gRPC on another directory: same hash, same relative path, same pixels size.
      const remote = await startHarness({ dir: other });
      try {
        const r = await remote.call(input);
        expect(r.perceptualHash).toBe(local.perceptualHash);
        expect(r.webpPath).toBe(local.path);
        expect([r.width, r.height]).toEqual([local.width, local.height]);
      } finally {
        await remote.stop();
      }
      await closeLocalPipelines();

      // The service on the fallback's directory finds the fallback's file.
      const svc = await startHarness({ dir });
      try {
        const r = await svc.call(input);
        expect(r.cache).toBe('exact');
        expect(r.webpPath).toBe(local.path);
      } finally {
        await svc.stop();
      }
    } finally {
      await closeLocalPipelines();
    }
  });
});

afterAll(removeTempDirs);

describe('generator sanity', () => {
  it('near-duplicates decode to the same size ratio', async () => {
    const o = await jpeg('photo', 90, 90, [400, 300]);
    const d = await nearDuplicate(o, 1, 'resize');
    const m = await sharp(d.bytes).metadata();
    expect(Math.abs((m.width ?? 0) / (m.height ?? 1) - 4 / 3)).toBeLessThan(0.02);
  });
});
