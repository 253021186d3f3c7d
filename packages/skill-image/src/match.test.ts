// The match keys see what the stored output shows: transparency, mirror images, small edits, and entries written
// with older keys. Through the real gRPC service (test-support harness) on loopback.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAYOUT_VERSION } from './cache.js';
import { keysFromThumbnail, mirrorCloser, samePicture, THUMB_SIZE } from './features.js';
import { cacheEntryDir, variantRecord, variantsOf, writeEntryFile } from './test-support/cache-entries.js';
import { removeTempDirs, startHarness, tempDir, type Harness } from './test-support/harness.js';
import {
  ALPHA_PATTERNS,
  alphaOnly,
  asymmetric,
  glowFrame,
  H,
  mirror,
  png,
  spriteFrame,
  W,
} from './test-support/pictures.js';

const entryOf = (webpPath: string) => path.posix.dirname(webpPath);

describe('match keys on loopback', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.stop();
    await removeTempDirs();
  });

  it('pictures that differ only in alpha (white colour channels) never share an entry', async () => {
    const entries = new Set<string>();
    for (const [name, pattern] of Object.entries(ALPHA_PATTERNS)) {
      const r = await h.call(await alphaOnly(pattern), { format: 'png' });
      expect(r.cache, name).toBe('miss');
      entries.add(entryOf(r.webpPath));
    }
    expect(entries.size).toBe(Object.keys(ALPHA_PATTERNS).length);
    // Same alpha content, other colour channels (black instead of white): another picture too.
    const black = await h.call(await alphaOnly(ALPHA_PATTERNS.waves, [0, 0, 0]), { format: 'png' });
    expect(black.cache).toBe('miss');
    expect(entries.has(entryOf(black.webpPath))).toBe(false);
  });

  it('a transparent picture re-encoded or resized is still a near hit; flattened (JPEG) it is another picture', async () => {
    const original = await alphaOnly(ALPHA_PATTERNS.disc);
    const first = await h.call(original, { format: 'png' });
    const lossless = await sharp(original).webp({ lossless: true }).toBuffer();
    const half = await sharp(original)
      .resize(W / 2)
      .png()
      .toBuffer();
    for (const [name, copy] of [
      ['lossless WebP', lossless],
      ['half size', half],
    ] as const) {
      const r = await h.call(copy, { format: 'png' });
      expect(entryOf(r.webpPath), name).toBe(entryOf(first.webpPath));
      expect(r.cache, name).toBe('near');
    }
    const flattened = await sharp(await alphaOnly(ALPHA_PATTERNS.disc, [30, 90, 200]))
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 95 })
      .toBuffer();
    const coloured = await h.call(await alphaOnly(ALPHA_PATTERNS.disc, [30, 90, 200]), { format: 'png' });
    const flat = await h.call(flattened, { format: 'png' });
    expect(flat.cache).toBe('miss');
    expect(entryOf(flat.webpPath)).not.toBe(entryOf(coloured.webpPath));
  });

  it('a mirror image of an asymmetric picture never matches the original', async () => {
    for (const mirroredText of [false, true]) {
      const original = await png(asymmetric({ mirroredText }));
      const first = await h.call(original);
      const copy = await h.call(await sharp(original).jpeg({ quality: 85 }).toBuffer());
      expect(copy.cache).toBe('near');
      for (const axis of ['horizontal', 'vertical'] as const) {
        const m = await h.call(await mirror(original, axis));
        expect(entryOf(m.webpPath), `${axis} mirror (mirroredText: ${mirroredText})`).not.toBe(
          entryOf(first.webpPath),
        );
      }
    }
  });

  it('small edits of the same picture match: 2.5 % crop per edge, ±5 % brightness', async () => {
    const raw = asymmetric();
    const original = await png(raw);
    const first = await h.call(original);
    const dx = Math.round(W * 0.025);
    const dy = Math.round(H * 0.025);
    const crop = await sharp(original)
      .extract({ left: dx, top: dy, width: W - 2 * dx, height: H - 2 * dy })
      .png()
      .toBuffer();
    const brighter = await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
      .linear(1.05, 0)
      .png()
      .toBuffer();
    const darker = await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
      .linear(0.95, 0)
      .png()
      .toBuffer();
    for (const [name, b] of [
      ['crop', crop],
      ['+5 %', brighter],
      ['-5 %', darker],
    ] as const) {
      const r = await h.call(b);
      expect(r.cache, name).toBe('near');
      expect(entryOf(r.webpPath), name).toBe(entryOf(first.webpPath));
    }
  });

  it('near-identical but different pictures never share an entry: a sprite moved, a glyph changed, a glow pulse', async () => {
    const frames: Array<[string, Buffer]> = [
      ['frame 0', await png(spriteFrame(0))],
      ['sprite moved 4 px', await png(spriteFrame(4))],
      ['sprite moved 8 px', await png(spriteFrame(8))],
      ['one glyph 3 px wider', await png(spriteFrame(0, 3))],
      ['glow frame 0', await glowFrame(1)],
      ['glow 4 % brighter', await glowFrame(1.04)],
      ['glow 8 % brighter', await glowFrame(1.08)],
    ];
    const entries = new Map<string, string>();
    for (const [name, b] of frames) {
      const r = await h.call(b, { format: 'png' });
      expect(r.cache, name).toBe('miss');
      expect(entries.get(entryOf(r.webpPath)), name).toBeUndefined();
      entries.set(entryOf(r.webpPath), name);
    }
    // Copies of a frame still find that frame, not a neighbour.
    const frame0 = [...entries].find(([, n]) => n === 'frame 0')?.[0];
    const glow0 = [...entries].find(([, n]) => n === 'glow frame 0')?.[0];
    const copies: Array<[string, Buffer, string | undefined]> = [
      ['frame 0 as JPEG q75', await sharp(frames[0][1]).jpeg({ quality: 75 }).toBuffer(), frame0],
      [
        'frame 0 at half size',
        await sharp(frames[0][1])
          .resize(W / 2)
          .png()
          .toBuffer(),
        frame0,
      ],
      ['glow frame 0 as lossless WebP', await sharp(frames[4][1]).webp({ lossless: true }).toBuffer(), glow0],
    ];
    for (const [name, b, entry] of copies) {
      const r = await h.call(b, { format: 'png' });
      expect(r.cache, name).toBe('near');
      expect(entryOf(r.webpPath), name).toBe(entry);
    }
  });
});

describe('keys', () => {
  const thumb = (f: (x: number, y: number) => [number, number, number, number]) => {
    const t = new Uint8Array(THUMB_SIZE * THUMB_SIZE * 4);
    for (let y = 0; y < THUMB_SIZE; y++)
      for (let x = 0; x < THUMB_SIZE; x++) t.set(f(x, y), (y * THUMB_SIZE + x) * 4);
    return t;
  };

  it('alpha takes part in the perceptual hash and the guard', () => {
    const a = keysFromThumbnail(
      thumb((x) => [255, 255, 255, x < 32 ? 255 : 0]),
      64,
      64,
    );
    const b = keysFromThumbnail(
      thumb((_, y) => [255, 255, 255, y < 32 ? 255 : 0]),
      64,
      64,
    );
    expect(a.phash).not.toBe(b.phash);
    expect(a.opaque).toBe(false);
    expect(samePicture(a, b)).toBe(false);
    expect(samePicture(a, a)).toBe(true);
  });

  it('detects the mirror image of an asymmetric thumbnail, not of a symmetric one', () => {
    const asym = keysFromThumbnail(
      thumb((x, y) => [x * 4, y * 2, 90, 255]),
      64,
      64,
    );
    const flopped = keysFromThumbnail(
      thumb((x, y) => [(63 - x) * 4, y * 2, 90, 255]),
      64,
      64,
    );
    expect(mirrorCloser(flopped.detail, asym.detail)).toBe(true);
    expect(mirrorCloser(asym.detail, asym.detail)).toBe(false);
    expect(samePicture(flopped, asym)).toBe(false);
    const sym = keysFromThumbnail(
      thumb((x, y) => [Math.abs(x - 31.5) * 6, y * 2, 90, 255]),
      64,
      64,
    );
    expect(samePicture(sym, sym)).toBe(true);
  });
});

describe('cache format upgrade', () => {
  it.each([1, LAYOUT_VERSION - 1])(
    'drops entries written with older keys (layout %i) at start; their aliases never produce a hit',
    async (oldLayout) => {
      const dir = await tempDir();
      // A previous-version cache in which picture B was (wrongly) recorded as an alias of picture A's entry.
      const a = await alphaOnly(ALPHA_PATTERNS.waves);
      const b = await alphaOnly(ALPHA_PATTERNS.stripes);
      const { createHash } = await import('node:crypto');
      const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
      const id = sha(a).slice(0, 32);
      const entryDir = await cacheEntryDir(dir, id);
      const out = await sharp(a).webp().toBuffer();
      await fs.writeFile(path.join(entryDir, 'webp-q80-d1024.webp'), out);
      await writeEntryFile(dir, {
        layout: oldLayout,
        id,
        phash: '0'.repeat(64),
        width: W,
        height: H,
        colour: Buffer.alloc(192, 255).toString('base64'),
        detail: Buffer.alloc(3072, 255).toString('base64'),
        contents: [sha(a), sha(b)],
        variants: variantsOf(
          variantRecord({ width: W, height: H, bytes: out.length, createdAt: Date.now() }),
        ),
        createdAt: Date.now(),
        lastAccess: Date.now(),
      });
      await fs.writeFile(path.join(dir, 'skill-image-cache.json'), JSON.stringify({ layout: oldLayout }));
      const h = await startHarness({ dir });
      try {
        const rb = await h.call(b);
        expect(rb.cache).toBe('miss');
        const ra = await h.call(a);
        expect(ra.cache).toBe('miss');
        expect(entryOf(ra.webpPath)).not.toBe(entryOf(rb.webpPath));
        const marker = JSON.parse(await fs.readFile(path.join(dir, 'skill-image-cache.json'), 'utf8')) as {
          layout: number;
        };
        expect(marker.layout).toBe(LAYOUT_VERSION);
      } finally {
        await h.stop();
      }
      // The dropped tree is gone once the background removal finished (close waits for it).
      expect((await fs.readdir(dir)).filter((n) => n.startsWith('dropped-'))).toEqual([]);
    },
  );

  it('refuses a cache written by a newer version with a message saying what to do', async () => {
    const dir = await tempDir();
    await fs.writeFile(
      path.join(dir, 'skill-image-cache.json'),
      JSON.stringify({ layout: LAYOUT_VERSION + 1 }),
    );
    await expect(startHarness({ dir })).rejects.toThrow(/newer version.*another CACHE_DIR/);
  });
});
