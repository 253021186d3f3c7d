import { open } from 'node:fs/promises';
import { FormatsError } from '../errors.js';
import { errorMessage } from '../error-message.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_VALUE_TYPE as T,
  alignPad,
  meta,
  type GgufMetaValue,
  type GgufScalar,
  type GgufScalarType,
} from './metadata.js';
import { GgmlType, TYPE_LAYOUT, encode, tensorBytes, type GgmlTypeName } from './quant.js';

/** One tensor to write: name, dims in ggml order (ne[0] = row length), type, and a producer of its f32 values. */
export interface GgufTensorSpec {
  name: string;
  dims: readonly number[];
  type: GgmlTypeName;
  /** Fills `out` with elements [start, start + out.length) of the tensor (row-major over ggml dims). */
  fill(start: number, out: Float32Array): void;
}

/** A whole GGUF v3 file: metadata in write order, tensors in write order. */
export interface GgufFileSpec {
  metadata: ReadonlyArray<readonly [string, GgufMetaValue]>;
  tensors: readonly GgufTensorSpec[];
  /** general.alignment; default 32 (then no general.alignment key is written unless the metadata has one). */
  alignment?: number;
}

/**
 * A tensor spec over values already in memory (adapters).
 * @throws FormatsError `FORMATS_GGUF_INVALID` when `dims` does not describe `data.length` values.
 */
export function f32Tensor(
  name: string,
  dims: readonly number[],
  data: Float32Array,
  type: GgmlTypeName = 'F32',
): GgufTensorSpec {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) {
    throw new FormatsError(
      'FORMATS_GGUF_INVALID',
      `tensor ${name}: shape [${dims.join(', ')}] does not match ${data.length} values`,
    );
  }
  return { name, dims, type, fill: (start, out) => out.set(data.subarray(start, start + out.length)) };
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
  scalar(type: GgufScalarType, v: GgufScalar): void {
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

function validate(spec: GgufFileSpec): void {
  const a = spec.alignment;
  if (a !== undefined && !(Number.isInteger(a) && a > 0 && (a & (a - 1)) === 0)) {
    throw new FormatsError('FORMATS_INVALID_ARGUMENT', `alignment must be a power of two, got ${a}`);
  }
  const names = new Set<string>();
  for (const t of spec.tensors) {
    if (names.has(t.name)) throw new FormatsError('FORMATS_GGUF_INVALID', `duplicate tensor name ${t.name}`);
    names.add(t.name);
    const n = t.dims.reduce((a, b) => a * b, 1);
    const { blockSize } = TYPE_LAYOUT[t.type];
    if (
      !t.dims.every((d) => Number.isInteger(d) && d > 0) ||
      (t.dims[0] as number) % blockSize !== 0 ||
      n % blockSize
    ) {
      throw new FormatsError(
        'FORMATS_GGUF_INVALID',
        `tensor ${t.name} [${t.dims.join(', ')}] cannot be stored as ${t.type}: rows must be a multiple of ${blockSize}`,
      );
    }
  }
}

/**
 * Header + metadata + tensor infos: everything before the aligned data section, plus each tensor's offset in the
 * data section and the data section's size.
 * @throws FormatsError `FORMATS_GGUF_INVALID` for duplicate tensor names or shapes the type cannot store,
 * `FORMATS_INVALID_ARGUMENT` for an alignment that is not a power of two.
 */
export function ggufHeader(spec: GgufFileSpec): { header: Buffer; offsets: number[]; dataBytes: number } {
  validate(spec);
  const alignment = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
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
    offset += bytes + alignPad(bytes, alignment);
  }
  const head = s.concat();
  return {
    header: Buffer.concat([head, Buffer.alloc(alignPad(head.length, alignment))]),
    offsets,
    dataBytes: offset,
  };
}

/** Elements generated and encoded per chunk (a multiple of every block size). */
const CHUNK = 32 * 16384;

/**
 * The bytes of a GGUF v3 file in order: header, then each tensor's data chunk by chunk and its padding. Yielded
 * buffers may be reused by the next step: consume (write or copy) each before asking for the next.
 */
function* ggufBytes(spec: GgufFileSpec): Generator<Buffer, number> {
  const { header, dataBytes } = ggufHeader(spec);
  const alignment = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  yield header;
  let total = header.length;
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
      yield out.subarray(0, written);
    }
    total += bytes;
    const p = alignPad(bytes, alignment);
    if (p) {
      total += p;
      yield Buffer.alloc(p);
    }
  }
  if (total !== header.length + dataBytes) {
    throw new FormatsError(
      'FORMATS_GGUF_INVALID',
      `wrote ${total} bytes, expected ${header.length + dataBytes}`,
    );
  }
  return total;
}

/**
 * Serialises a GGUF v3 file into one buffer (small files: adapters, fixtures).
 * @throws FormatsError `FORMATS_GGUF_INVALID` for an invalid spec.
 */
export function encodeGguf(spec: GgufFileSpec): Buffer {
  const parts: Buffer[] = [];
  for (const b of ggufBytes(spec)) parts.push(Buffer.from(b));
  return Buffer.concat(parts);
}

/**
 * Writes a GGUF v3 file, streaming tensor data chunk by chunk (memory stays small for 500 MB files). Writes `path`
 * in place: write to a temporary name and rename for atomic publication.
 * @throws FormatsError `FORMATS_GGUF_INVALID` for an invalid spec, `FORMATS_IO` when the file cannot be written.
 */
export async function writeGguf(path: string, spec: GgufFileSpec): Promise<{ bytes: number }> {
  const chunks = ggufBytes(spec);
  const first = chunks.next(); // validates the spec before the file is created
  let fh;
  try {
    fh = await open(path, 'w');
  } catch (cause) {
    throw new FormatsError('FORMATS_IO', `cannot write ${path}: ${errorMessage(cause)}`, { cause });
  }
  try {
    let pos = 0;
    for (let step = first; !step.done; step = chunks.next()) {
      await fh.write(step.value, 0, step.value.length, pos);
      pos += step.value.length;
    }
    return { bytes: pos };
  } finally {
    await fh.close();
  }
}
