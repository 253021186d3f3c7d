// The fine check: the last step of the collision guard, only for candidates every other check accepted.
//
// Pictures that are near-identical but different (frames of one animation, a small object moved, a pulsing glow)
// differ by a few levels over a compact or thin region; copies of one picture (re-encodes, resizes, brightness
// edits, small crops) differ by noise that is either spread and of mixed signs (compression) or concentrated on
// edges (resampling). The fine key keeps the 64×64 thumbnail's luminance (of the colour premultiplied by alpha:
// a brightness edit is then one gain, clipped at white) and, for pictures with transparency, its alpha. The check
// aligns brightness (one gain, saturation modelled), then looks for the 6×6 window whose mean SIGNED difference,
// less a fraction of the local curvature of the two pictures there (resampling and compression errors grow at
// edges and texture, not on smooth ramps such as a glow), is largest. A compact or coherent change in a smooth
// region stands out; noise of mixed signs cancels, edge errors are excused.

import { boxWeights } from './box-weights.js';

/** Side of the fine planes. */
export const FINE_SIZE = 64;
const N = FINE_SIZE * FINE_SIZE;
/** Window side of the signed mean. */
export const FINE_WINDOW = 6;

/** Thresholds of the fine check (levels of 255). */
export interface FineThresholds {
  /** Largest (|mean signed difference| − fineContrastFactor × mean local curvature) over any window. */
  maxFineResidual: number;
  /** maxFineResidual for a small crop (compared against the other's fine key resampled to the same crop). */
  maxCropFineResidual: number;
  /** Weight of the local curvature (second differences, the larger of the two pictures) in the window. */
  fineContrastFactor: number;
}

/**
 * Fine key from a FINE_SIZE² RGBA thumbnail (not premultiplied): luminance of the premultiplied colour, followed by
 * the alpha plane when some thumbnail pixel is not opaque (length N or 2N).
 */
export function fineKey(rgba: Uint8Array): Uint8Array {
  let opaque = true;
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) opaque = false;
  const out = new Uint8Array(opaque ? N : 2 * N);
  for (let i = 0; i < N; i++) {
    const a = rgba[i * 4 + 3];
    const y = 0.299 * rgba[i * 4] + 0.587 * rgba[i * 4 + 1] + 0.114 * rgba[i * 4 + 2];
    out[i] = Math.round((y * a) / 255);
    if (!opaque) out[N + i] = a;
  }
  return out;
}

/** True when `k` is a well-formed fine key. */
export function isFineKey(k: Uint8Array): boolean {
  return k.length === N || k.length === 2 * N;
}

/**
 * Crop of a fine key: `ex`/`ey` of the width/height removed on each edge, resampled back to FINE_SIZE² by area
 * weights (the query is a crop of `k`'s picture at the same scale).
 */
export function croppedFine(k: Uint8Array, ex: number, ey: number): Uint8Array {
  const planes = k.length / N;
  const out = new Uint8Array(k.length);
  const wx = boxWeights(ex, FINE_SIZE);
  const wy = boxWeights(ey, FINE_SIZE);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < FINE_SIZE; y++) {
      for (let x = 0; x < FINE_SIZE; x++) {
        let v = 0;
        for (const [sy, fy] of wy[y]) {
          for (const [sx, fx] of wx[x]) v += k[p * N + sy * FINE_SIZE + sx] * fy * fx;
        }
        out[p * N + y * FINE_SIZE + x] = Math.round(v);
      }
    }
  }
  return out;
}

/**
 * The fine residual of two fine keys (see the file comment): the largest, over the luminance and alpha planes and
 * every FINE_WINDOW² window, of |mean signed difference| − contrastFactor × mean local curvature. A missing alpha
 * plane is all 255. `maxGain`: largest brightness gain compensated (±). `shifted`: one is a resampled copy of the
 * other (other size, or a crop): a global sub-pixel translation is not a difference.
 */
export function fineResidual(
  a: Uint8Array,
  b: Uint8Array,
  contrastFactor: number,
  maxGain: number,
  shifted: boolean,
): number {
  const d = new Float32Array(N);
  // Luminance: one gain, the darker copy scaled up and clipped at white (a brightened copy saturates there).
  let ab = 0;
  let bb = 0;
  let aa = 0;
  for (let i = 0; i < N; i++) {
    if (a[i] >= 250 || b[i] >= 250) continue;
    ab += a[i] * b[i];
    bb += b[i] * b[i];
    aa += a[i] * a[i];
  }
  const raw = bb > 0 && aa > 0 ? Math.sqrt(aa / bb) : 1;
  const g = Math.min(1 + maxGain, Math.max(1 - maxGain, ab > 0 ? raw : 1));
  for (let i = 0; i < N; i++) {
    d[i] = g >= 1 ? a[i] - Math.min(255, g * b[i]) : Math.min(255, a[i] / g) - b[i];
  }
  const la = a.subarray(0, N);
  const lb = b.subarray(0, N);
  if (shifted) removeShift(d, lb);
  let worst = windowResidual(d, la, lb, contrastFactor);
  if (a.length > N || b.length > N) {
    const pa = alphaPlane(a);
    const pb = alphaPlane(b);
    for (let i = 0; i < N; i++) d[i] = pa[i] - pb[i];
    if (shifted) removeShift(d, pb);
    worst = Math.max(worst, windowResidual(d, pa, pb, contrastFactor));
  }
  return worst;
}

const OPAQUE = new Uint8Array(N).fill(255);

function alphaPlane(k: Uint8Array): Uint8Array {
  return k.length > N ? k.subarray(N, 2 * N) : OPAQUE;
}

/** Largest global shift (thumbnail pixels) explained away: resampling a resized copy moves it by a fraction. */
const MAX_SHIFT = 1;

/**
 * Removes from `d` the part a global sub-pixel translation of the whole picture explains (resampling phase of a
 * resized or cropped copy): d ≈ u·∂b/∂x + v·∂b/∂y, fitted by least squares, |u|, |v| ≤ MAX_SHIFT. A local change
 * (one sprite moved, the rest still) is not a global translation and stays.
 */
function removeShift(d: Float32Array, b: Uint8Array): void {
  const S = FINE_SIZE;
  const gx = new Float32Array(N);
  const gy = new Float32Array(N);
  let xx = 0;
  let xy = 0;
  let yy = 0;
  let dx = 0;
  let dy = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      const hx = (b[x + 1 < S ? i + 1 : i] - b[x > 0 ? i - 1 : i]) / (x > 0 && x + 1 < S ? 2 : 1);
      const hy = (b[y + 1 < S ? i + S : i] - b[y > 0 ? i - S : i]) / (y > 0 && y + 1 < S ? 2 : 1);
      gx[i] = hx;
      gy[i] = hy;
      xx += hx * hx;
      xy += hx * hy;
      yy += hy * hy;
      dx += d[i] * hx;
      dy += d[i] * hy;
    }
  }
  const det = xx * yy - xy * xy;
  if (!(det > 1e-9 * (xx * yy + 1))) return;
  const clamp = (v: number) => Math.max(-MAX_SHIFT, Math.min(MAX_SHIFT, v));
  const u = clamp((dx * yy - dy * xy) / det);
  const v = clamp((dy * xx - dx * xy) / det);
  for (let i = 0; i < N; i++) d[i] -= u * gx[i] + v * gy[i];
}

/** Local curvature of a plane at i (x, y): mean of |horizontal| and |vertical| second differences (edges repeat). */
function curvature(k: Uint8Array, x: number, y: number): number {
  const S = FINE_SIZE;
  const i = y * S + x;
  const v = 2 * k[i];
  const h = v - k[x > 0 ? i - 1 : i] - k[x + 1 < S ? i + 1 : i];
  const w = v - k[y > 0 ? i - S : i] - k[y + 1 < S ? i + S : i];
  return (Math.abs(h) + Math.abs(w)) / 2;
}

/**
 * max over FINE_WINDOW² windows of (|Σ d| − factor × Σ curvature) / w², where curvature = the larger of the two
 * pictures' local curvature at the pixel; with integral images (one pass).
 */
function windowResidual(d: Float32Array, a: Uint8Array, b: Uint8Array, factor: number): number {
  const S = FINE_SIZE;
  const W = FINE_WINDOW;
  const R = S + 1;
  const I = new Float64Array(R * R);
  const J = new Float64Array(R * R);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const o = (y + 1) * R + x + 1;
      const c = Math.max(curvature(a, x, y), curvature(b, x, y));
      I[o] = d[y * S + x] + I[o - 1] + I[o - R] - I[o - R - 1];
      J[o] = c + J[o - 1] + J[o - R] - J[o - R - 1];
    }
  }
  let worst = -Infinity;
  for (let y = 0; y + W <= S; y++) {
    for (let x = 0; x + W <= S; x++) {
      const p = y * R + x;
      const q = (y + W) * R + x;
      const sd = I[q + W] - I[p + W] - I[q] + I[p];
      const sc = J[q + W] - J[p + W] - J[q] + J[p];
      const v = (Math.abs(sd) - factor * sc) / (W * W);
      if (v > worst) worst = v;
    }
  }
  return worst;
}
