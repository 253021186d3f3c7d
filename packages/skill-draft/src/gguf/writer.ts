import { open } from 'node:fs/promises';
import { DraftError } from '../errors.js';
import { GgmlType, TYPE_LAYOUT, encode, tensorBytes, type GgmlTypeName } from './quant.js';

/** GGUF metadata value types (gguf_type). */
const T = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
type Scalar = Exclude<keyof typeof T, 'array'>;

export type GgufMetaValue =
  | { type: Scalar; value: number | bigint | boolean | string }
  | { type: 'array'; itemType: Scalar; values: ReadonlyArray<number | bigint | boolean | string> };

/** Builders for metadata values. */
export const meta = {
  u32: (value: number): GgufMetaValue => ({ type: 'u32', value }),
  i32: (value: number): GgufMetaValue => ({ type: 'i32', value }),
  u64: (value: number | bigint): GgufMetaValue => ({ type: 'u64', value }),
  f32: (value: number): GgufMetaValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufMetaValue => ({ type: 'bool', value }),
  str: (value: string): GgufMetaValue => ({ type: 'string', value }),
  arr: (itemType: Scalar, values: ReadonlyArray<number | bigint | boolean | string>): GgufMetaValue => ({
    type: 'array',
    itemType,
    values,
  }),
};

/** One tensor: name, dims in ggml order (ne[0] = row length), type, and a producer of its f32 values. */
export interface GgufTensorSpec {
  name: string;
  dims: readonly number[];
  type: GgmlTypeName;
  /** Fills `out` with elements [start, start + out.length) of the tensor (row-major over ggml dims). */
  fill(start: number, out: Float32Array): void;
}

export interface GgufFileSpec {
  metadata: ReadonlyArray<readonly [string, GgufMetaValue]>;
  tensors: readonly GgufTensorSpec[];
  /** general.alignment; default 32. */
  alignment?: number;
}

const enc = new TextEncoder();

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const bytes = Buffer.from(enc.encode(s));
    this.u64(bytes.length);
    this.push(bytes);
  }
  scalar(type: Scalar, v: number | bigint | boolean | string): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case 'u8':
        b.writeUInt8(Number(v));
        return this.push(b.subarray(0, 1));
      case 'i8':
        b.writeInt8(Number(v));
        return this.push(b.subarray(0, 1));
      case 'u16':
        b.writeUInt16LE(Number(v));
        return this.push(b.subarray(0, 2));
      case 'i16':
        b.writeInt16LE(Number(v));
        return this.push(b.subarray(0, 2));
      case 'u32':
        b.writeUInt32LE(Number(v));
        return this.push(b.subarray(0, 4));
      case 'i32':
        b.writeInt32LE(Number(v));
        return this.push(b.subarray(0, 4));
      case 'f32':
        b.writeFloatLE(Number(v));
        return this.push(b.subarray(0, 4));
      case 'bool':
        b.writeUInt8(v ? 1 : 0);
        return this.push(b.subarray(0, 1));
      case 'u64':
        b.writeBigUInt64LE(BigInt(v));
        return this.push(b);
      case 'i64':
        b.writeBigInt64LE(BigInt(v));
        return this.push(b);
      case 'f64':
        b.writeDoubleLE(Number(v));
        return this.push(b);
      case 'string':
        return this.str(String(v));
    }
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const pad = (n: number, a: number) => (a - (n % a)) % a;

function validate(spec: GgufFileSpec): void {
  const names = new Set<string>();
  for (const t of spec.tensors) {
    if (names.has(t.name)) throw new DraftError('DRAFT_GGUF_INVALID', `duplicate tensor name ${t.name}`);
    names.add(t.name);
    const n = t.dims.reduce((a, b) => a * b, 1);
    const { blockSize } = TYPE_LAYOUT[t.type];
    if (
      !t.dims.every((d) => Number.isInteger(d) && d > 0) ||
      (t.dims[0] as number) % blockSize !== 0 ||
      n % blockSize
    ) {
      throw new DraftError(
        'DRAFT_GGUF_INVALID',
        `tensor ${t.name} [${t.dims.join(', ')}] cannot be stored as ${t.type}: rows must be a multiple of ${blockSize}`,
      );
    }
  }
}

/** Header + metadata + tensor infos (everything before the aligned data section). */
export function ggufHeader(spec: GgufFileSpec): { header: Buffer; offsets: number[]; dataBytes: number } {
  validate(spec);
  const alignment = spec.alignment ?? 32;
  const metadata = [...spec.metadata];
  if (spec.alignment !== undefined && !metadata.some(([k]) => k === 'general.alignment')) {
    metadata.push(['general.alignment', meta.u32(alignment)]);
  }
  const s = new ByteSink();
  s.push(Buffer.from('GGUF', 'latin1'));
  s.u32(3);
  s.u64(spec.tensors.length);
  s.u64(metadata.length);
  for (const [key, v] of metadata) {
    s.str(key);
    s.u32(T[v.type]);
    if (v.type === 'array') {
      s.u32(T[v.itemType]);
      s.u64(v.values.length);
      for (const item of v.values) s.scalar(v.itemType, item);
    } else {
      s.scalar(v.type, v.value);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of spec.tensors) {
    s.str(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(GgmlType[t.type]);
    s.u64(offset);
    offsets.push(offset);
    const bytes = tensorBytes(
      t.type,
      t.dims.reduce((a, b) => a * b, 1),
    );
    offset += bytes + pad(bytes, alignment);
  }
  const head = s.concat();
  return {
    header: Buffer.concat([head, Buffer.alloc(pad(head.length, alignment))]),
    offsets,
    dataBytes: offset,
  };
}

/** Elements generated and encoded per write (a multiple of every block size). */
const CHUNK = 32 * 16384;

/** Writes a GGUF v3 file, streaming tensor data chunk by chunk (memory stays small for 500 MB files). */
export async function writeGguf(path: string, spec: GgufFileSpec): Promise<{ bytes: number }> {
  const { header, dataBytes } = ggufHeader(spec);
  const alignment = spec.alignment ?? 32;
  const fh = await open(path, 'w');
  try {
    let pos = 0;
    const write = async (b: Buffer) => {
      await fh.write(b, 0, b.length, pos);
      pos += b.length;
    };
    await write(header);
    const values = new Float32Array(CHUNK);
    const out = Buffer.alloc(CHUNK * 4);
    for (const t of spec.tensors) {
      const n = t.dims.reduce((a, b) => a * b, 1);
      let bytes = 0;
      for (let start = 0; start < n; start += CHUNK) {
        const count = Math.min(CHUNK, n - start);
        const view = values.subarray(0, count);
        t.fill(start, view);
        const written = encode(t.type, view, out, 0);
        bytes += written;
        await write(out.subarray(0, written));
      }
      const p = pad(bytes, alignment);
      if (p) await write(Buffer.alloc(p));
    }
    if (pos !== header.length + dataBytes) {
      throw new DraftError('DRAFT_GGUF_INVALID', `wrote ${pos} bytes, expected ${header.length + dataBytes}`);
    }
    return { bytes: pos };
  } finally {
    await fh.close();
  }
}
