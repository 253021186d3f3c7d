// Small deterministic test pictures for the match keys: transparency and mirror images. Drawn in JS into raw RGBA
// buffers and encoded with sharp (a few KB each; nothing is committed as a binary fixture).
import sharp from 'sharp';

export const W = 320;
export const H = 240;
/** Patterns are drawn in a 160×120 design space (a half-size copy stays above the 64 px thumbnail). */
const K = W / 160;

type Pattern = (x: number, y: number) => number;

/** Alpha-only patterns (0–255): what differs between two transparent pictures whose colour channels are white. */
export const ALPHA_PATTERNS: Record<'waves' | 'stripes' | 'disc' | 'logo', Pattern> = {
  waves: (x, y) => 128 + 127 * Math.sin(x / 9 + 3 * Math.sin(y / 17)),
  stripes: (x) => (Math.floor(x / 12) % 2 === 0 ? 230 : 20),
  // Soft edge (a 16 px ramp), like a glow.
  disc: (x, y) => (255 * (48 - Math.hypot(x - 70, y - 60))) / 16,
  logo: (x, y) => (x > 30 && x < 130 && Math.abs(y - 60 - 0.3 * (x - 80)) < 14 ? 255 : 40),
};

/** A PNG whose colour channels are all `rgb` and whose content lives only in alpha. */
export function alphaOnly(
  pattern: Pattern,
  rgb: readonly [number, number, number] = [255, 255, 255],
): Promise<Buffer> {
  const data = Buffer.alloc(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 4;
      data[i] = rgb[0];
      data[i + 1] = rgb[1];
      data[i + 2] = rgb[2];
      data[i + 3] = Math.max(0, Math.min(255, Math.round(pattern(x / K, y / K))));
    }
  }
  return sharp(data, { raw: { width: W, height: H, channels: 4 } })
    .png()
    .toBuffer();
}

/**
 * An opaque picture that is asymmetric: a smooth background, a dark "word" block at the upper left and a coloured
 * patch at the lower right. `mirroredText`: instead, a left/right symmetric layout whose only asymmetry is a line
 * of "text" (uneven glyph blocks) in the middle — what mirrored text on a centred poster looks like.
 */
export function asymmetric(opts: { mirroredText?: boolean } = {}): Buffer {
  const data = Buffer.alloc(W * H * 3);
  const glyphs = [5, 9, 3, 7, 8, 2, 6, 9, 4, 7, 3, 8];
  for (let yy = 0; yy < H; yy++) {
    for (let xx = 0; xx < W; xx++) {
      const i = (yy * W + xx) * 3;
      const x = Math.floor(xx / K);
      const y = Math.floor(yy / K);
      const cx = Math.abs(x - 80 + 0.5);
      let r = 200 - y;
      let g = 150 + (opts.mirroredText ? cx * 0.6 : x * 0.4);
      let b = 90 + y * 0.5;
      if (opts.mirroredText) {
        // Symmetric frame + asymmetric text line.
        if (cx > 60 && y > 20 && y < 100) [r, g, b] = [40, 60, 150];
        const gx = x - 32;
        const gi = Math.floor(gx / 8);
        if (gx >= 0 && gi < glyphs.length && gx % 8 < 6 && y >= 52 && y < 52 + glyphs[gi] * 2)
          [r, g, b] = [15, 15, 15];
      } else {
        if (x > 10 && x < 70 && y > 12 && y < 40) [r, g, b] = [20, 20, 30];
        if (x > 105 && x < 150 && y > 70 && y < 110) [r, g, b] = [220, 40, 40];
      }
      data[i] = r;
      data[i + 1] = g;
      data[i + 2] = b;
    }
  }
  return data;
}

/** Encodes a W×H raw RGB buffer. */
export function png(raw: Buffer): Promise<Buffer> {
  return sharp(raw, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
}

/** A horizontally (flop) or vertically (flip) mirrored copy, same format family (PNG). */
export function mirror(bytes: Buffer, axis: 'horizontal' | 'vertical' = 'horizontal'): Promise<Buffer> {
  const s = sharp(bytes);
  return (axis === 'horizontal' ? s.flop() : s.flip()).png().toBuffer();
}

/**
 * One frame of a sprite animation, opaque: a fixed textured background (gradient + thin lines) and a ball with a
 * highlight whose centre is moved by `dx` pixels (of W); `label`: a small dark "text" mark at the lower right whose
 * glyph widths change with it. Frames differ only where the sprite or the mark changed.
 */
export function spriteFrame(dx: number, label = 0): Buffer {
  const data = Buffer.alloc(W * H * 3);
  const glyphs = [4, 7, 3, 6, 5].map((g, i) => (i === 2 ? g + label : g));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      let r = 60 + (x * 120) / W;
      let g = 110 + (y * 80) / H;
      let b = 170 - (x * 60) / W;
      if (y % 40 === 0 || x % 64 === 0) [r, g, b] = [r - 40, g - 40, b - 40];
      const d = Math.hypot(x - (140 + dx), y - 110);
      if (d < 30) {
        const hl = Math.max(0, 1 - Math.hypot(x - (130 + dx), y - 100) / 14);
        [r, g, b] = [170 + 80 * hl, 40 + 150 * hl, 40 + 150 * hl];
      }
      let gx = x - 220;
      for (const gw of glyphs) {
        if (gx >= 0 && gx < gw && y >= 200 && y < 212) [r, g, b] = [20, 20, 20];
        gx -= gw + 3;
      }
      data[i] = r;
      data[i + 1] = g;
      data[i + 2] = b;
    }
  }
  return data;
}

/**
 * One frame of a pulsing glow, transparent: an opaque blue globe with a soft glow of the same colours around it
 * (fading out over 30 px) whose opacity is scaled by `pulse` (1 = the first frame; 1.03 ≈ a few levels more, like consecutive frames of a boot animation).
 */
export function glowFrame(pulse: number): Promise<Buffer> {
  const data = Buffer.alloc(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 4;
      const d = Math.hypot(x - W / 2, y - H / 2);
      const globe = d < 80;
      const glow = Math.max(0, 1 - (d - 80) / 30);
      data[i] = 20 + (x * 60) / W;
      data[i + 1] = 60 + (y * 100) / H;
      data[i + 2] = 230;
      data[i + 3] = globe ? 255 : Math.min(255, Math.round(255 * glow * glow * pulse));
    }
  }
  return sharp(data, { raw: { width: W, height: H, channels: 4 } })
    .png()
    .toBuffer();
}
