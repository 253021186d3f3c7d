// Deterministic synthetic image generator for skill-image's tests and benchmark.
//
// Pictures are drawn in JS into raw RGB buffers (no SVG/font rendering: the service restricts libvips loaders
// process-wide, and raw input is not a file loader), then encoded with sharp. Families cover what breaks
// perceptual caches: busy "photo-like" scenes, document-like pages of glyph blocks, flat colours, dark and
// low-contrast scenes, gradients, and pairs that differ only by a small edit (a different word on a page).
import { mulberry32 as rng } from '@sarai/formats';
import sharp, { type Sharp } from 'sharp';

export type Family = 'photo' | 'document' | 'flat' | 'dark' | 'lowcontrast' | 'gradient' | 'noise';
export const FAMILIES: readonly Family[] = [
  'photo',
  'document',
  'flat',
  'dark',
  'lowcontrast',
  'gradient',
  'noise',
];

/** mulberry32 (@sarai/formats): small, fast, seedable; values in [0, 1). */
export { rng };

export class Canvas {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3);
  }

  fill(c: Rgb): this {
    return this.rect(0, 0, this.width, this.height, c);
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): this {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    for (let yy = y0; yy < y1; yy++) {
      let i = (yy * this.width + x0) * 3;
      for (let xx = x0; xx < x1; xx++, i += 3) {
        this.data[i] = c[0];
        this.data[i + 1] = c[1];
        this.data[i + 2] = c[2];
      }
    }
    return this;
  }

  circle(cx: number, cy: number, r: number, c: Rgb): this {
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(this.height, Math.ceil(cy + r));
    for (let y = y0; y < y1; y++) {
      const dy = y + 0.5 - cy;
      const half = Math.sqrt(Math.max(0, r * r - dy * dy));
      this.rect(cx - half, y, 2 * half, 1, c);
    }
    return this;
  }

  /** Linear gradient from c0 to c1 along angle (radians). */
  gradient(c0: Rgb, c1: Rgb, angle: number): this {
    const dx = Math.cos(angle);
    const dy = Math.sin(angle);
    const span = Math.abs(dx) * this.width + Math.abs(dy) * this.height;
    const off = Math.min(0, dx * this.width) + Math.min(0, dy * this.height);
    for (let y = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++) {
        const t = (x * dx + y * dy - off) / span;
        const i = (y * this.width + x) * 3;
        for (let k = 0; k < 3; k++) this.data[i + k] = Math.round(c0[k] + (c1[k] - c0[k]) * t);
      }
    }
    return this;
  }

  /** Adds uniform noise of ±amp to every channel. */
  noise(amp: number, rand: () => number): this {
    for (let i = 0; i < this.data.length; i++) {
      this.data[i] = clamp(this.data[i] + Math.round((rand() * 2 - 1) * amp));
    }
    return this;
  }

  clone(): Canvas {
    const c = new Canvas(this.width, this.height);
    c.data.set(this.data);
    return c;
  }

  sharp(): Sharp {
    return sharp(this.data, { raw: { width: this.width, height: this.height, channels: 3 } });
  }
}

export type Rgb = readonly [number, number, number];
const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
const colour = (rand: () => number, lo = 0, hi = 255): Rgb => [
  Math.round(lo + rand() * (hi - lo)),
  Math.round(lo + rand() * (hi - lo)),
  Math.round(lo + rand() * (hi - lo)),
];

export interface SceneOptions {
  family: Family;
  seed: number;
  width?: number;
  height?: number;
}

/** Draws one picture of a family. Same options → same pixels. */
export function scene(opts: SceneOptions): Canvas {
  const rand = rng(opts.seed * 7919 + FAMILIES.indexOf(opts.family) * 104729 + 1);
  const w = opts.width ?? 320 + Math.floor(rand() * 5) * 80;
  const h = opts.height ?? 240 + Math.floor(rand() * 4) * 60;
  const c = new Canvas(w, h);
  switch (opts.family) {
    case 'photo': {
      c.gradient(colour(rand), colour(rand), rand() * Math.PI * 2);
      const n = 6 + Math.floor(rand() * 10);
      for (let i = 0; i < n; i++) {
        const col = colour(rand);
        if (rand() < 0.5) c.circle(rand() * w, rand() * h, (0.05 + rand() * 0.25) * Math.min(w, h), col);
        else c.rect(rand() * w, rand() * h, (0.05 + rand() * 0.4) * w, (0.05 + rand() * 0.4) * h, col);
      }
      c.noise(10, rand);
      break;
    }
    case 'document': {
      c.fill([245, 245, 240]);
      drawWords(c, rand, 0, 1, [20, 20, 25]);
      break;
    }
    case 'flat':
      c.fill(colour(rand));
      break;
    case 'dark': {
      c.fill(colour(rand, 0, 12));
      const n = 3 + Math.floor(rand() * 6);
      for (let i = 0; i < n; i++) {
        c.rect(
          rand() * w,
          rand() * h,
          (0.1 + rand() * 0.4) * w,
          (0.1 + rand() * 0.4) * h,
          colour(rand, 0, 28),
        );
      }
      break;
    }
    case 'lowcontrast': {
      const base = 100 + Math.floor(rand() * 60);
      c.fill([base, base, base]);
      const n = 3 + Math.floor(rand() * 5);
      for (let i = 0; i < n; i++) {
        const d = Math.round((rand() * 2 - 1) * 10);
        c.circle(rand() * w, rand() * h, (0.1 + rand() * 0.3) * Math.min(w, h), [
          base + d,
          base + d,
          base + d,
        ]);
      }
      break;
    }
    case 'gradient':
      c.gradient(colour(rand), colour(rand), rand() * Math.PI * 2);
      break;
    case 'noise':
      c.fill(colour(rand, 60, 200)).noise(60, rand);
      break;
  }
  return c;
}

function drawWords(c: Canvas, rand: () => number, from: number, to: number, ink: Rgb): void {
  const lineH = Math.max(8, Math.round(c.height / 24));
  const glyphH = Math.round(lineH * 0.6);
  for (
    let y = Math.round(lineH * 1.5 + from * c.height);
    y < Math.min(c.height - lineH, to * c.height);
    y += lineH
  ) {
    let x = Math.round(c.width * 0.08);
    while (x < c.width * 0.9) {
      const len = 2 + Math.floor(rand() * 8);
      for (let g = 0; g < len && x < c.width * 0.9; g++) {
        const gw = Math.max(2, Math.round(glyphH * (0.4 + rand() * 0.4)));
        c.rect(x, y + (rand() < 0.2 ? -2 : 0), gw, glyphH, ink);
        x += gw + 1;
      }
      x += Math.round(glyphH * 0.8);
    }
  }
}

/**
 * A different picture that differs from `base` only in a small region: a word replaced on a page, a small
 * object moved. What a perceptual cache must NOT treat as the same picture.
 */
export function smallEdit(base: Canvas, seed: number): Canvas {
  const rand = rng(seed ^ 0x5bd1e995);
  const c = base.clone();
  const w = Math.max(6, Math.round(c.width * (0.05 + rand() * 0.05)));
  const h = Math.max(4, Math.round(c.height * (0.02 + rand() * 0.03)));
  const x = Math.round(rand() * (c.width - w));
  const y = Math.round(rand() * (c.height - h));
  // Paint a small patch that clearly differs from what was there: on a page this adds/removes a word, in a scene
  // it adds a small object. Half the edits change brightness only (same hue), half change colour.
  const mean = [0, 0, 0];
  for (let yy = y; yy < y + h; yy++) {
    for (let xx = x; xx < x + w; xx++)
      for (let k = 0; k < 3; k++) mean[k] += c.data[(yy * c.width + xx) * 3 + k];
  }
  const m = mean.map((v) => v / (w * h));
  const lum = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2];
  const shift = lum > 127 ? -90 : 90;
  const ink = (rand() < 0.5
    ? m.map((v) => clamp(Math.round(v + shift)))
    : m.map((v) => (v > 127 ? 0 : 255))) as unknown as Rgb;
  c.rect(x, y, w, h, ink);
  return c;
}

export type OutFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif';

export async function encode(c: Canvas | Sharp, format: OutFormat, quality = 85): Promise<Buffer> {
  const s = c instanceof Canvas ? c.sharp() : c;
  switch (format) {
    case 'jpeg':
      return s.jpeg({ quality }).toBuffer();
    case 'png':
      return s.png().toBuffer();
    case 'webp':
      return s.webp({ quality }).toBuffer();
    case 'avif':
      return s.avif({ quality: Math.min(quality, 70), effort: 2 }).toBuffer();
    case 'gif':
      return s.gif().toBuffer();
  }
}

export type DupKind = 'reencode' | 'resize' | 'resize+reencode' | 'format';

/**
 * A near-duplicate of an encoded picture: the same picture re-encoded at another quality, resized, or converted to
 * another format, as happens when the same photo arrives through different apps.
 */
export async function nearDuplicate(
  original: Buffer,
  seed: number,
  kind?: DupKind,
): Promise<{ bytes: Buffer; how: string }> {
  const rand = rng(seed ^ 0x9e3779b9);
  const k: DupKind =
    kind ?? (['reencode', 'resize', 'resize+reencode', 'format'] as const)[Math.floor(rand() * 4)];
  const q = 40 + Math.floor(rand() * 56);
  const meta = await sharp(original).metadata();
  const factor = 0.4 + rand() * 0.9;
  const resized = () =>
    sharp(original).resize(Math.max(16, Math.round((meta.width ?? 64) * factor)), undefined, {
      kernel: rand() < 0.5 ? 'lanczos3' : 'cubic',
    });
  switch (k) {
    case 'reencode':
      return { bytes: await sharp(original).jpeg({ quality: q }).toBuffer(), how: `jpeg q${q}` };
    case 'resize':
      return { bytes: await resized().png().toBuffer(), how: `resize ×${factor.toFixed(2)} png` };
    case 'resize+reencode':
      return {
        bytes: await resized().jpeg({ quality: q }).toBuffer(),
        how: `resize ×${factor.toFixed(2)} jpeg q${q}`,
      };
    case 'format':
      return { bytes: await sharp(original).webp({ quality: q }).toBuffer(), how: `webp q${q}` };
  }
}

/** A ~1 MB photo-like JPEG (for the exact-hit latency benchmark). */
export async function largeJpeg(seed = 1, width = 1600, height = 1200): Promise<Buffer> {
  const c = scene({ family: 'photo', seed, width, height });
  c.noise(28, rng(seed));
  return encode(c, 'jpeg', 90);
}

export interface ReplayItem {
  bytes: Buffer;
  /** Identity of the underlying picture: requests with the same picture id may share a cache entry. */
  picture: string;
  kind: 'new' | 'repeat' | 'near';
}

/**
 * A replay workload: a stream of requests where pictures come back as exact repeats (same bytes) and as
 * near-duplicates (re-encoded/resized), mixed with new pictures of every family and small-edit look-alikes
 * (which are new pictures).
 */
export async function replayWorkload(opts: {
  seed: number;
  count: number;
  repeatRate?: number;
  nearRate?: number;
}): Promise<ReplayItem[]> {
  const rand = rng(opts.seed);
  const repeatRate = opts.repeatRate ?? 0.45;
  const nearRate = opts.nearRate ?? 0.25;
  const seen: Array<{ bytes: Buffer; picture: string; canvas: Canvas }> = [];
  const items: ReplayItem[] = [];
  let n = 0;
  while (items.length < opts.count) {
    const r = rand();
    if (seen.length > 0 && r < repeatRate) {
      const s = seen[Math.floor(rand() * seen.length)];
      items.push({ bytes: s.bytes, picture: s.picture, kind: 'repeat' });
    } else if (seen.length > 0 && r < repeatRate + nearRate) {
      const s = seen[Math.floor(rand() * seen.length)];
      const d = await nearDuplicate(s.bytes, Math.floor(rand() * 2 ** 31));
      items.push({ bytes: d.bytes, picture: s.picture, kind: 'near' });
    } else {
      const family = FAMILIES[Math.floor(rand() * FAMILIES.length)];
      let canvas: Canvas;
      let picture: string;
      // A quarter of new pictures are small edits of one seen before: look-alikes that must not hit.
      if (seen.length > 0 && rand() < 0.25) {
        const base = seen[Math.floor(rand() * seen.length)];
        canvas = smallEdit(base.canvas, n);
        picture = `${base.picture}~edit${n}`;
      } else {
        canvas = scene({ family, seed: opts.seed * 100_003 + n });
        picture = `${family}#${n}`;
      }
      n += 1;
      const bytes = await encode(canvas, rand() < 0.7 ? 'jpeg' : 'png', 80 + Math.floor(rand() * 15));
      seen.push({ bytes, picture, canvas });
      items.push({ bytes, picture, kind: 'new' });
    }
  }
  return items;
}
