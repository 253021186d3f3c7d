// Perceptual keys of a picture and the collision guard that decides whether two pictures are the same.
//
// Keys come from ONE small normalised thumbnail (64×64 RGBA, aspect ignored, resized without JPEG shrink-on-load so
// that sub-pixel phase does not matter), so they do not depend on the input's size, format or compression. Alpha is
// part of every key, because the stored output keeps it: two pictures that differ only in transparency (e.g. white
// colour channels with all the content in alpha) are different pictures.
//   - phash: 256-bit block-mean hash (imghash / blockhash, 16×16 blocks) of the thumbnail composited over mid grey
//     (opaque pictures: the picture itself; content that lives only in alpha shows up whatever its colour): the
//     lookup key, reported to clients;
//   - width/height of the auto-oriented source: resizes keep the aspect ratio, crops and other pictures do not;
//   - colour: 8×8 thumbnail, 4 channels: RGB composited over white + alpha. Block-mean hashes only see relative
//     brightness: every flat picture hashes to the same bits whatever its colour, and dark pictures cluster. This
//     catches colour/brightness changes and transparency changes;
//   - detail: 32×32 thumbnail, same 4 channels. Catches small local differences (another word on the same page, a
//     small object added) that 16×16 block means average away. Compared per channel after removing each colour
//     channel's mean (alpha is compared as is), by the largest single difference and by the largest 3×3 mean of
//     signed differences (a compact edit survives that blur, resampling/compression noise of opposite signs
//     cancels); both limits grow with the overall noise level (mean absolute difference) so heavily recompressed
//     copies of busy pictures still match.
//   - mirror check: a candidate is refused when the query is at least as close to the candidate's horizontal or
//     vertical mirror image as to the candidate itself (a flip of an asymmetric picture is another picture; block
//     means and blurred differences cannot tell mirrored text from the original).
//   - fine: 64×64 luminance (+ alpha when transparent), for the last check (src/fine.ts): near-identical pictures
//     (animation frames, a small object moved, a pulsing glow) that every coarser key takes for one picture.
import imghash from 'imghash';
import { croppedFine, fineKey, fineResidual, type FineThresholds } from './fine.js';
import { boxWeights } from './box-weights.js';

/** Version of the keys' definition; stored with every cache entry (entries with other keys are dropped). */
export const KEYS_VERSION = 3;
export const THUMB_SIZE = 64;
export const DETAIL_SIZE = 32;
export const COLOUR_SIZE = 8;
/** Channels of the colour and detail thumbnails: R, G, B (composited over white), alpha. */
export const KEY_CHANNELS = 4;
export const PHASH_BITS = 16; // 16×16 blocks = 256 bits = 64 hex digits

export interface PerceptualKeys {
  /** 256-bit block-mean hash, 64 hex digits. */
  phash: string;
  /** Auto-oriented source size. */
  width: number;
  height: number;
  /** Every pixel of the source is fully opaque (no alpha channel, or alpha 255 everywhere). */
  opaque: boolean;
  /** 8×8×4 mean thumbnail: RGB over white, alpha. */
  colour: Uint8Array;
  /** 32×32×4 mean thumbnail: RGB over white, alpha. */
  detail: Uint8Array;
  /** 64×64 luminance of the premultiplied colour, then 64×64 alpha when the thumbnail is not opaque (fine.ts). */
  fine: Uint8Array;
}

/** Thresholds of the near-duplicate match. Defaults calibrated on real pictures (see README). */
export interface MatchThresholds extends FineThresholds {
  /** Largest phash Hamming distance (of 256 bits) for a candidate. */
  maxHamming: number;
  /** Largest mean absolute difference of the 8×8 colour thumbnails (levels of 255). */
  maxColourMad: number;
  /** Largest mean absolute difference of the detail thumbnails (worst channel, mean brightness removed). */
  maxDetailMad: number;
  /** Largest single detail difference allowed = detailMaxBase + noiseFactor × mean absolute difference. */
  detailMaxBase: number;
  /** Largest 3×3 mean of signed detail differences allowed = detailBlobBase + noiseFactor × mean abs. difference. */
  detailBlobBase: number;
  noiseFactor: number;
  /** maxDetailMad for a small crop (compared at 16×16 after resampling, which adds its own error). */
  maxCropDetailMad: number;
}

/** Fine check (fine.ts), calibrated on the real corpus: 0 false hits, animation frames ≤ 6 levels apart refused. */
const FINE_MAX_RESIDUAL = 0.45;
const FINE_CONTRAST_FACTOR = 0.25;

export const DEFAULT_THRESHOLDS: Readonly<MatchThresholds> = Object.freeze({
  maxHamming: 48,
  maxColourMad: 4,
  maxDetailMad: 2,
  detailMaxBase: 24,
  detailBlobBase: 14,
  noiseFactor: 4,
  maxCropDetailMad: 4,
  maxFineResidual: FINE_MAX_RESIDUAL,
  maxCropFineResidual: FINE_MAX_RESIDUAL * 2,
  fineContrastFactor: FINE_CONTRAST_FACTOR,
});

/**
 * Derives the keys from a THUMB_SIZE×THUMB_SIZE raw RGBA thumbnail (4 channels, not premultiplied) of a
 * width×height picture. `opaque`: whether every pixel of the full-size source is opaque (a few transparent pixels
 * vanish in a thumbnail); default: the thumbnail's alpha is 255 everywhere.
 */
export function keysFromThumbnail(
  rgba: Uint8Array,
  width: number,
  height: number,
  opaque?: boolean,
): PerceptualKeys {
  const n = THUMB_SIZE * THUMB_SIZE;
  if (rgba.length !== n * 4) throw new Error(`thumbnail must be ${THUMB_SIZE}x${THUMB_SIZE} RGBA`);
  let allOpaque = true;
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) allOpaque = false;
  const grey = new Uint8Array(n * 4);
  const white = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const a = rgba[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[i * 4 + c] * a;
      grey[i * 4 + c] = Math.round((v + 128 * (255 - a)) / 255);
      white[i * 4 + c] = Math.round((v + 255 * (255 - a)) / 255);
    }
    grey[i * 4 + 3] = 255;
    white[i * 4 + 3] = a;
  }
  const phash = imghash.hashRaw({ width: THUMB_SIZE, height: THUMB_SIZE, data: grey }, PHASH_BITS);
  return {
    phash,
    width,
    height,
    opaque: opaque ?? allOpaque,
    colour: boxDown(white, THUMB_SIZE, KEY_CHANNELS, COLOUR_SIZE),
    detail: boxDown(white, THUMB_SIZE, KEY_CHANNELS, DETAIL_SIZE),
    fine: fineKey(rgba),
  };
}

/** Box-filter downsampling of a square size×size image with `channels` channels to out×out (size % out === 0). */
function boxDown(src: Uint8Array, size: number, channels: number, out: number): Uint8Array {
  const f = size / out;
  const res = new Uint8Array(out * out * channels);
  for (let y = 0; y < out; y++) {
    for (let x = 0; x < out; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let dy = 0; dy < f; dy++) {
          for (let dx = 0; dx < f; dx++) sum += src[((y * f + dy) * size + x * f + dx) * channels + c];
        }
        res[(y * out + x) * channels + c] = Math.round(sum / (f * f));
      }
    }
  }
  return res;
}

const POP = new Uint8Array(256).map((_, i) => {
  let c = 0;
  for (let v = i; v; v >>= 1) c += v & 1;
  return c;
});

/** Hamming distance between two equal-length hex hashes. */
export function hamming(a: string, b: string): number {
  let d = 0;
  for (let i = 0; i < a.length; i += 2) {
    d += POP[(parseInt(a.slice(i, i + 2), 16) ^ parseInt(b.slice(i, i + 2), 16)) & 0xff];
  }
  return d;
}

/** Hash as bytes, for fast repeated comparisons. */
export function hashBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function hammingBytes(a: Uint8Array, b: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += POP[a[i] ^ b[i]];
  return d;
}

/** True when the aspect ratios agree within what rounding a resize to integer pixels can explain. */
export function aspectMatches(
  a: { width: number; height: number },
  b: { width: number; height: number },
): boolean {
  const minW = Math.min(a.width, b.width);
  const minH = Math.min(a.height, b.height);
  const tol = 0.6 / minW + 0.6 / minH + 0.005;
  return Math.abs(Math.log(a.width / a.height) - Math.log(b.width / b.height)) <= tol;
}

export interface GuardDistances {
  hamming: number;
  aspect: boolean;
  /** Both fully opaque, or both with some transparency (a flattened copy of a transparent picture is another). */
  opacity: boolean;
  /** Mean absolute difference of the 8×8 thumbnails: the larger of colour (RGB) and alpha. */
  colourMad: number;
  detailMad: number;
  detailMax: number;
  detailBlob: number;
  /** The query is at least as close to a mirror image (horizontal or vertical) of the other as to the other. */
  mirror: boolean;
}

/**
 * Every distance the guard looks at (phash Hamming first: callers skip the rest for far candidates). `size`: side
 * of the detail thumbnails in the keys (DETAIL_SIZE; the crop comparison uses coarser ones).
 */
export function distances(
  a: PerceptualKeys,
  b: PerceptualKeys,
  size = DETAIL_SIZE,
  withMirror = true,
): GuardDistances {
  return {
    ...coarseDistances(a, b),
    ...detailDistances(a.detail, b.detail, size),
    mirror: withMirror && mirrorCloser(a.detail, b.detail, size),
  };
}

/** The cheap part of the guard's distances: phash, aspect, opacity and the 8×8 thumbnails. */
function coarseDistances(
  a: PerceptualKeys,
  b: PerceptualKeys,
): Pick<GuardDistances, 'hamming' | 'aspect' | 'opacity' | 'colourMad'> {
  // One brightness gain for all colour channels (a ±5 % brightness change is the same picture; another hue or a
  // larger change is not), limited to ±MAX_GAIN.
  let ab = 0;
  let bb = 0;
  for (let i = 0; i < a.colour.length; i += KEY_CHANNELS) {
    for (let c = 0; c < 3; c++) {
      ab += a.colour[i + c] * b.colour[i + c];
      bb += b.colour[i + c] * b.colour[i + c];
    }
  }
  const gain = clampGain(bb > 0 ? ab / bb : 1);
  let colour = 0;
  let alpha = 0;
  for (let i = 0; i < a.colour.length; i += KEY_CHANNELS) {
    for (let c = 0; c < 3; c++) colour += Math.abs(a.colour[i + c] - gain * b.colour[i + c]);
    alpha += Math.abs(a.colour[i + 3] - b.colour[i + 3]);
  }
  const px = a.colour.length / KEY_CHANNELS;
  return {
    hamming: hamming(a.phash, b.phash),
    aspect: aspectMatches(a, b),
    opacity: a.opaque === b.opaque,
    colourMad: Math.max(colour / (px * 3), alpha / px),
  };
}

/**
 * The guard on the pair as is: cheap checks first, detail only when they pass, the mirror check and the fine check
 * last. `resampled`: one copy was resampled relative to the other (crop path), so a global sub-pixel shift is
 * explained away by the fine check; otherwise only when the sizes differ (a same-size copy has no resampling
 * phase, and a global shift of everything but its edges is then a change).
 */
function directMatch(
  a: PerceptualKeys,
  b: PerceptualKeys,
  t: MatchThresholds,
  size: number,
  resampled = a.width !== b.width || a.height !== b.height,
): boolean {
  const c = coarseDistances(a, b);
  if (!(c.hamming <= t.maxHamming && c.aspect && c.opacity && c.colourMad <= t.maxColourMad)) return false;
  const d: GuardDistances = { ...c, ...detailDistances(a.detail, b.detail, size), mirror: false };
  return (
    guardAccepts(d, t) &&
    !mirrorCloser(a.detail, b.detail, size) &&
    fineResidual(a.fine, b.fine, t.fineContrastFactor, MAX_GAIN, resampled) <= t.maxFineResidual
  );
}

/** Largest brightness/contrast gain the guard compensates (calibrated: ±5 % brightness edits match). */
export const MAX_GAIN = 0.07;

function clampGain(g: number): number {
  return Math.min(1 + MAX_GAIN, Math.max(1 - MAX_GAIN, g));
}

/** Mean absolute difference per value below which a picture counts as its own mirror image (at 32×32). */
const SYMMETRIC_MAD = 0.5;

/**
 * True when `b` is not symmetric about an axis and `a` is at least as close to `b`'s mirror image about that axis
 * (horizontal or vertical) as to `b` itself. For a copy of an asymmetric picture the mirror is much farther; for a
 * mirror image it is much closer. A picture symmetric at 32×32 is its own mirror image: not refused. Distances are
 * sums of absolute differences, colour channels with their mean difference removed, alpha as is. One pass.
 */
export function mirrorCloser(a: Uint8Array, b: Uint8Array, S = DETAIL_SIZE): boolean {
  const C = KEY_CHANNELS;
  const shift = [0, 0, 0, 0];
  for (let i = 0; i < a.length; i++) shift[i % C] += a[i] - b[i];
  for (let c = 0; c < 3; c++) shift[c] /= a.length / C;
  shift[3] = 0;
  let direct = 0;
  let hMirror = 0;
  let vMirror = 0;
  let hAsym = 0;
  let vAsym = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = (y * S + x) * C;
      const h = (y * S + (S - 1 - x)) * C;
      const v = ((S - 1 - y) * S + x) * C;
      for (let c = 0; c < C; c++) {
        const ac = a[i + c] - shift[c];
        direct += Math.abs(ac - b[i + c]);
        hMirror += Math.abs(ac - b[h + c]);
        vMirror += Math.abs(ac - b[v + c]);
        hAsym += Math.abs(b[i + c] - b[h + c]);
        vAsym += Math.abs(b[i + c] - b[v + c]);
      }
    }
  }
  const symmetric = SYMMETRIC_MAD * a.length;
  return (hMirror <= direct && hAsym > symmetric) || (vMirror <= direct && vAsym > symmetric);
}

function detailDistances(
  a: Uint8Array,
  b: Uint8Array,
  S: number,
): { detailMad: number; detailMax: number; detailBlob: number } {
  const n = S * S;
  const diff = new Float32Array(n);
  let worstMad = 0;
  let max = 0;
  let blob = 0;
  for (let c = 0; c < KEY_CHANNELS; c++) {
    let ma = 0;
    let mb = 0;
    let g = 1;
    if (c < 3) {
      // Colour channels: a uniform brightness change (offset, and a contrast gain within ±MAX_GAIN) is not a
      // difference; alpha: any change is.
      for (let i = 0; i < n; i++) {
        ma += a[i * KEY_CHANNELS + c];
        mb += b[i * KEY_CHANNELS + c];
      }
      ma /= n;
      mb /= n;
      let cov = 0;
      let varB = 0;
      for (let i = 0; i < n; i++) {
        const db = b[i * KEY_CHANNELS + c] - mb;
        cov += (a[i * KEY_CHANNELS + c] - ma) * db;
        varB += db * db;
      }
      g = clampGain(varB > 0 ? cov / varB : 1);
    }
    let mad = 0;
    for (let i = 0; i < n; i++) {
      const v = a[i * KEY_CHANNELS + c] - ma - g * (b[i * KEY_CHANNELS + c] - mb);
      diff[i] = v;
      const av = Math.abs(v);
      mad += av;
      if (av > max) max = av;
    }
    worstMad = Math.max(worstMad, mad / n);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        let sum = 0;
        let cnt = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= S) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= S) continue;
            sum += diff[yy * S + xx];
            cnt += 1;
          }
        }
        const m = Math.abs(sum / cnt);
        if (m > blob) blob = m;
      }
    }
  }
  return { detailMad: worstMad, detailMax: max, detailBlob: blob };
}

/** Crops per edge (fraction of the side) that still match, when the sizes say one is a crop of the other. */
export const CROP_RANGE: readonly [number, number] = [0.01, 0.035];

/**
 * `b`'s keys as if `b` had been cropped by `ex` of its width and `ey` of its height on each edge (at the same
 * scale): detail and colour thumbnails box-resampled from b's detail thumbnail.
 */
export function croppedKeys(b: PerceptualKeys, ex: number, ey: number): PerceptualKeys {
  const S = DETAIL_SIZE;
  const out = new Uint8Array(S * S * KEY_CHANNELS);
  const wx = boxWeights(ex, DETAIL_SIZE);
  const wy = boxWeights(ey, DETAIL_SIZE);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      for (let c = 0; c < KEY_CHANNELS; c++) {
        let v = 0;
        for (const [sy, fy] of wy[y]) {
          for (const [sx, fx] of wx[x]) v += b.detail[(sy * S + sx) * KEY_CHANNELS + c] * fy * fx;
        }
        out[(y * S + x) * KEY_CHANNELS + c] = Math.round(v);
      }
    }
  }
  return {
    ...b,
    width: Math.round(b.width * (1 - 2 * ex)),
    height: Math.round(b.height * (1 - 2 * ey)),
    detail: out,
    colour: boxDown(out, S, KEY_CHANNELS, COLOUR_SIZE),
    fine: croppedFine(b.fine, ex, ey),
  };
}

/**
 * Per-edge crop fractions (x, y) when `small`'s size is `large`'s size minus a centred crop within CROP_RANGE on
 * both axes (same scale: a resized copy is not a crop), else undefined.
 */
function cropOf(small: PerceptualKeys, large: PerceptualKeys): [number, number] | undefined {
  const ex = (large.width - small.width) / (2 * large.width);
  const ey = (large.height - small.height) / (2 * large.height);
  const [lo, hi] = CROP_RANGE;
  return ex >= lo && ex <= hi && ey >= lo && ey <= hi ? [ex, ey] : undefined;
}

/**
 * The whole decision: the guard accepts the pair as is, or the sizes say one is a small centred crop of the other
 * at the same scale (1–3.5 % per edge, {@link CROP_RANGE}) and the guard accepts it against the other's keys
 * cropped the same way, comparing detail at 16×16 (a crop's 32×32 cells straddle the original's). Phash
 * distance, opacity and the mirror check always apply.
 */
export function samePicture(
  a: PerceptualKeys,
  b: PerceptualKeys,
  t: MatchThresholds = DEFAULT_THRESHOLDS,
): boolean {
  // Cheap checks first (most candidates fail the 8×8 colours), the mirror check last.
  if (directMatch(a, b, t, DETAIL_SIZE)) return true;
  if (hamming(a.phash, b.phash) > t.maxHamming || a.opaque !== b.opaque) return false;
  const aInB = cropOf(a, b);
  const bInA = aInB ? undefined : cropOf(b, a);
  const pair = aInB ? [a, croppedKeys(b, ...aInB)] : bInA ? [croppedKeys(a, ...bInA), b] : undefined;
  if (!pair) return false;
  const [x, y] = pair.map(coarse);
  return directMatch(
    x,
    y,
    { ...t, maxDetailMad: t.maxCropDetailMad, maxFineResidual: t.maxCropFineResidual },
    CROP_DETAIL_SIZE,
    true,
  );
}

/** Side of the detail thumbnails compared for crops: resampling block means for a crop blurs finer detail. */
export const CROP_DETAIL_SIZE = 16;

/** The keys with their detail thumbnail boxed down to CROP_DETAIL_SIZE. */
function coarse(k: PerceptualKeys): PerceptualKeys {
  return { ...k, detail: boxDown(k.detail, DETAIL_SIZE, KEY_CHANNELS, CROP_DETAIL_SIZE) };
}

export type MatchVerdict = 'same' | 'candidate-rejected' | 'different';

/**
 * Decides whether two pictures are the same for caching. `different` = not a candidate (phash far apart);
 * `candidate-rejected` = the phash says close but the guard (aspect, colour, detail) refuses: a collision avoided.
 */
export function matchVerdict(
  a: PerceptualKeys,
  b: PerceptualKeys,
  t: MatchThresholds = DEFAULT_THRESHOLDS,
): MatchVerdict {
  if (hamming(a.phash, b.phash) > t.maxHamming) return 'different';
  return samePicture(a, b, t) ? 'same' : 'candidate-rejected';
}

export function guardAccepts(d: GuardDistances, t: MatchThresholds = DEFAULT_THRESHOLDS): boolean {
  return (
    d.hamming <= t.maxHamming &&
    d.aspect &&
    d.opacity &&
    !d.mirror &&
    d.colourMad <= t.maxColourMad &&
    d.detailMad <= t.maxDetailMad &&
    d.detailMax <= t.detailMaxBase + t.noiseFactor * d.detailMad &&
    d.detailBlob <= t.detailBlobBase + t.noiseFactor * d.detailMad
  );
}
