// Perceptual keys of a picture and the collision guard that decides whether two pictures are the same.
//
// Keys come from ONE small normalised thumbnail (64×64 RGB, aspect ignored, alpha flattened on white, resized
// without JPEG shrink-on-load so that sub-pixel phase does not matter), so they do not depend on the input's
// size, format or compression:
//   - phash: 256-bit block-mean hash (imghash / blockhash, 16×16 blocks): the lookup key, reported to clients;
//   - width/height of the auto-oriented source: resizes keep the aspect ratio, crops and other pictures do not;
//   - colour: 8×8 RGB mean thumbnail. Block-mean hashes only see relative brightness: every flat picture hashes
//     to the same bits whatever its colour, and dark pictures cluster. This catches colour/brightness changes;
//   - detail: 32×32 RGB thumbnail. Catches small local differences (another word on the same page, a small
//     object added) that 16×16 block means average away. Compared per channel after removing each channel's
//     mean, by the largest single difference and by the largest 3×3 mean of signed differences (a compact edit
//     survives that blur, resampling/compression noise of opposite signs cancels); both limits grow with the
//     overall noise level (mean absolute difference) so heavily recompressed copies of busy pictures still match.
import imghash from 'imghash';

export const THUMB_SIZE = 64;
export const DETAIL_SIZE = 32;
export const COLOUR_SIZE = 8;
export const PHASH_BITS = 16; // 16×16 blocks = 256 bits = 64 hex digits

export interface PerceptualKeys {
  /** 256-bit block-mean hash, 64 hex digits. */
  phash: string;
  /** Auto-oriented source size. */
  width: number;
  height: number;
  /** 8×8×3 mean RGB thumbnail. */
  colour: Uint8Array;
  /** 32×32×3 mean RGB thumbnail. */
  detail: Uint8Array;
}

/** Thresholds of the near-duplicate match. Defaults calibrated on the generator's workload (see README). */
export interface MatchThresholds {
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
}

export const DEFAULT_THRESHOLDS: Readonly<MatchThresholds> = Object.freeze({
  maxHamming: 48,
  maxColourMad: 3,
  maxDetailMad: 8,
  detailMaxBase: 24,
  detailBlobBase: 14,
  noiseFactor: 4,
});

/** Derives the keys from a THUMB_SIZE×THUMB_SIZE RGB (3 channels) raw thumbnail of a width×height picture. */
export function keysFromThumbnail(rgb: Uint8Array, width: number, height: number): PerceptualKeys {
  const n = THUMB_SIZE * THUMB_SIZE;
  if (rgb.length !== n * 3) throw new Error(`thumbnail must be ${THUMB_SIZE}x${THUMB_SIZE} RGB`);
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    rgba[i * 4] = rgb[i * 3];
    rgba[i * 4 + 1] = rgb[i * 3 + 1];
    rgba[i * 4 + 2] = rgb[i * 3 + 2];
    rgba[i * 4 + 3] = 255;
  }
  const phash = imghash.hashRaw({ width: THUMB_SIZE, height: THUMB_SIZE, data: rgba }, PHASH_BITS);
  return {
    phash,
    width,
    height,
    colour: boxDown(rgb, THUMB_SIZE, 3, COLOUR_SIZE),
    detail: boxDown(rgb, THUMB_SIZE, 3, DETAIL_SIZE),
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
  colourMad: number;
  detailMad: number;
  detailMax: number;
  detailBlob: number;
}

/** Every distance the guard looks at (phash Hamming first: callers skip the rest for far candidates). */
export function distances(a: PerceptualKeys, b: PerceptualKeys): GuardDistances {
  let colour = 0;
  for (let i = 0; i < a.colour.length; i++) colour += Math.abs(a.colour[i] - b.colour[i]);
  const d = detailDistances(a.detail, b.detail);
  return {
    hamming: hamming(a.phash, b.phash),
    aspect: aspectMatches(a, b),
    colourMad: colour / a.colour.length,
    ...d,
  };
}

function detailDistances(
  a: Uint8Array,
  b: Uint8Array,
): { detailMad: number; detailMax: number; detailBlob: number } {
  const S = DETAIL_SIZE;
  const n = S * S;
  const diff = new Float32Array(n);
  let worstMad = 0;
  let max = 0;
  let blob = 0;
  for (let c = 0; c < 3; c++) {
    let sa = 0;
    let sb = 0;
    for (let i = 0; i < n; i++) {
      sa += a[i * 3 + c];
      sb += b[i * 3 + c];
    }
    const shift = (sa - sb) / n;
    let mad = 0;
    for (let i = 0; i < n; i++) {
      const v = a[i * 3 + c] - b[i * 3 + c] - shift;
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
  return guardAccepts(distances(a, b), t) ? 'same' : 'candidate-rejected';
}

export function guardAccepts(d: GuardDistances, t: MatchThresholds = DEFAULT_THRESHOLDS): boolean {
  return (
    d.hamming <= t.maxHamming &&
    d.aspect &&
    d.colourMad <= t.maxColourMad &&
    d.detailMad <= t.maxDetailMad &&
    d.detailMax <= t.detailMaxBase + t.noiseFactor * d.detailMad &&
    d.detailBlob <= t.detailBlobBase + t.noiseFactor * d.detailMad
  );
}
