/** ggml tensor types the GGUF writer can produce (values are ggml's `enum ggml_type`). */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlTypeName = keyof typeof GgmlType;

/** ggml `enum ggml_type` ids SARAi uses anywhere: the writer's types plus I32 (training datasets). */
export const GGML_TYPE = { ...GgmlType, I32: 26 } as const;

/** Elements per quantization block and bytes per block. */
export const TYPE_LAYOUT: Record<GgmlTypeName, { blockSize: number; blockBytes: number }> = {
  F32: { blockSize: 1, blockBytes: 4 },
  F16: { blockSize: 1, blockBytes: 2 },
  Q4_0: { blockSize: 32, blockBytes: 18 },
  Q8_0: { blockSize: 32, blockBytes: 34 },
};

/** Bytes taken by `n` elements of `type` (n must be a multiple of the block size). */
export function tensorBytes(type: GgmlTypeName, n: number): number {
  const { blockSize, blockBytes } = TYPE_LAYOUT[type];
  return (n / blockSize) * blockBytes;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even (as ggml's GGML_FP32_TO_FP16). */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half += 1; // a carry into the exponent is still correct
  return sign | half;
}

/** binary16 bits → number. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Encodes `src` as `type` into `dst` at `offset`; returns bytes written. `src.length` must fit whole blocks. */
export function encode(type: GgmlTypeName, src: Float32Array, dst: Buffer, offset = 0): number {
  switch (type) {
    case 'F32':
      for (let i = 0; i < src.length; i++) dst.writeFloatLE(src[i] as number, offset + i * 4);
      return src.length * 4;
    case 'F16':
      for (let i = 0; i < src.length; i++) dst.writeUInt16LE(f32ToF16(src[i] as number), offset + i * 2);
      return src.length * 2;
    case 'Q8_0':
      return quantizeQ8_0(src, dst, offset);
    case 'Q4_0':
      return quantizeQ4_0(src, dst, offset);
  }
}

/** C's roundf: halves away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** ggml's quantize_row_q8_0_ref: per 32 values, d = max|x| / 127 (fp16), q = round(x / d). */
function quantizeQ8_0(src: Float32Array, dst: Buffer, offset: number): number {
  let o = offset;
  for (let b = 0; b < src.length; b += 32) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[b + j] as number));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    const h = f32ToF16(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < 32; j++) dst[o + 2 + j] = roundAway((src[b + j] as number) * id) & 0xff;
    o += 34;
  }
  return o - offset;
}

/** ggml's quantize_row_q4_0_ref: d = (value of max |x|) / -8, q = min(15, trunc(x / d + 8.5)), packed in nibbles. */
function quantizeQ4_0(src: Float32Array, dst: Buffer, offset: number): number {
  let o = offset;
  for (let b = 0; b < src.length; b += 32) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[b + j] as number;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = max / -8;
    const id = d ? 1 / d : 0;
    const h = f32ToF16(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(15, Math.trunc((src[b + j] as number) * id + 8.5));
      const x1 = Math.min(15, Math.trunc((src[b + 16 + j] as number) * id + 8.5));
      dst[o + 2 + j] = x0 | (x1 << 4);
    }
    o += 18;
  }
  return o - offset;
}

/** Decodes `n` elements of `type` from `src` (tests and tools). */
export function decode(type: GgmlTypeName, src: Buffer, n: number, offset = 0): Float32Array {
  const out = new Float32Array(n);
  switch (type) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = src.readFloatLE(offset + i * 4);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToF32(src.readUInt16LE(offset + i * 2));
      break;
    case 'Q8_0':
      for (let b = 0; b < n / 32; b++) {
        const o = offset + b * 34;
        const d = f16ToF32(src.readUInt16LE(o));
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * src.readInt8(o + 2 + j);
      }
      break;
    case 'Q4_0':
      for (let b = 0; b < n / 32; b++) {
        const o = offset + b * 18;
        const d = f16ToF32(src.readUInt16LE(o));
        for (let j = 0; j < 16; j++) {
          const q = src[o + 2 + j] as number;
          out[b * 32 + j] = d * ((q & 0x0f) - 8);
          out[b * 32 + 16 + j] = d * ((q >>> 4) - 8);
        }
      }
      break;
  }
  return out;
}
