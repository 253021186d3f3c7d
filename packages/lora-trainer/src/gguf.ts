import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { TrainerError, errorMessage } from './errors.js';

/** GGUF metadata value types (gguf.h `enum gguf_type`). */
const T = {
  U8: 0,
  I8: 1,
  U16: 2,
  I16: 3,
  U32: 4,
  I32: 5,
  F32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  U64: 10,
  I64: 11,
  F64: 12,
} as const;

const SCALAR_BYTES: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

/** ggml tensor type ids used here. */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, I32: 26 } as const;

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;
/** Arrays longer than this are not materialised by the reader (tokenizer vocabularies): only their length. */
const MAX_MATERIALISED_ARRAY = 256;

export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | GgufScalar[] | { arrayType: number; length: number };

export interface GgufTensorInfo {
  name: string;
  /** Dimensions in ggml order (ne[0] = row length). */
  ne: number[];
  type: number;
  /** Offset of the data relative to the data section. */
  offset: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the tensor data section. */
  dataOffset: number;
}

/** Metadata entry to write: a string, f32, u32, bool or an array of strings. */
export type GgufWriteValue =
  | { type: 'string'; value: string }
  | { type: 'f32'; value: number }
  | { type: 'u32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string[]'; value: readonly string[] };

export interface GgufWriteTensor {
  name: string;
  /** ggml order. */
  ne: readonly number[];
  data: Float32Array;
}

class Out {
  readonly chunks: Buffer[] = [];
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
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
}

const pad = (n: number, alignment: number): number => (alignment - (n % alignment)) % alignment;

/** Serialises a GGUF v3 file holding F32 tensors (what LoRA adapters need) into one buffer. */
export function encodeGguf(
  metadata: ReadonlyArray<[string, GgufWriteValue]>,
  tensors: readonly GgufWriteTensor[],
): Buffer {
  const out = new Out();
  out.u32(GGUF_MAGIC);
  out.u32(3);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, v] of metadata) {
    out.str(key);
    switch (v.type) {
      case 'string':
        out.u32(T.STRING);
        out.str(v.value);
        break;
      case 'f32': {
        out.u32(T.F32);
        const b = Buffer.alloc(4);
        b.writeFloatLE(v.value);
        out.push(b);
        break;
      }
      case 'u32':
        out.u32(T.U32);
        out.u32(v.value);
        break;
      case 'bool':
        out.u32(T.BOOL);
        out.push(Buffer.from([v.value ? 1 : 0]));
        break;
      case 'string[]':
        out.u32(T.ARRAY);
        out.u32(T.STRING);
        out.u64(v.value.length);
        for (const s of v.value) out.str(s);
        break;
    }
  }
  let offset = 0;
  for (const t of tensors) {
    const n = t.ne.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new TrainerError(
        'TRAINER_GGUF_INVALID',
        `tensor ${t.name}: shape [${t.ne.join(', ')}] does not match ${t.data.length} values`,
      );
    }
    out.str(t.name);
    out.u32(t.ne.length);
    for (const d of t.ne) out.u64(d);
    out.u32(GGML_TYPE.F32);
    out.u64(offset);
    offset += t.data.byteLength + pad(t.data.byteLength, DEFAULT_ALIGNMENT);
  }
  out.push(Buffer.alloc(pad(out.length, DEFAULT_ALIGNMENT)));
  for (const t of tensors) {
    out.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    out.push(Buffer.alloc(pad(t.data.byteLength, DEFAULT_ALIGNMENT)));
  }
  return Buffer.concat(out.chunks, out.length);
}

/** Sequential reader over a file descriptor with a growing window (header parsing only). */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  private need(n: number): void {
    const end = this.pos + n;
    if (this.pos >= this.bufStart && end <= this.bufStart + this.buf.length) return;
    const size = Math.max(n, 1 << 20);
    const b = Buffer.alloc(size);
    const read = readSync(this.fd, b, 0, size, this.pos);
    if (read < n) throw new TrainerError('TRAINER_GGUF_INVALID', `${this.path}: truncated GGUF header`);
    this.buf = b.subarray(0, read);
    this.bufStart = this.pos;
  }
  private at(n: number): number {
    this.need(n);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }
  private read<R>(fn: (buf: Buffer, offset: number) => R, n: number): R {
    const o = this.at(n); // may replace this.buf: read it only afterwards
    return fn(this.buf, o);
  }
  u8(): number {
    return this.read((b, o) => b.readUInt8(o), 1);
  }
  u32(): number {
    return this.read((b, o) => b.readUInt32LE(o), 4);
  }
  u64(): number {
    const v = this.read((b, o) => b.readBigUInt64LE(o), 8);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new TrainerError('TRAINER_GGUF_INVALID', `${this.path}: 64-bit value out of range`);
    return Number(v);
  }
  str(): string {
    const n = this.u64();
    if (n > 1 << 24) throw new TrainerError('TRAINER_GGUF_INVALID', `${this.path}: string of ${n} bytes`);
    const o = this.at(n);
    return this.buf.toString('utf8', o, o + n);
  }
  skip(n: number): void {
    this.pos += n;
  }
  scalar(type: number): GgufScalar {
    switch (type) {
      case T.U8:
        return this.u8();
      case T.I8:
        return this.read((b, o) => b.readInt8(o), 1);
      case T.U16:
        return this.read((b, o) => b.readUInt16LE(o), 2);
      case T.I16:
        return this.read((b, o) => b.readInt16LE(o), 2);
      case T.U32:
        return this.u32();
      case T.I32:
        return this.read((b, o) => b.readInt32LE(o), 4);
      case T.F32:
        return this.read((b, o) => b.readFloatLE(o), 4);
      case T.BOOL:
        return this.u8() !== 0;
      case T.STRING:
        return this.str();
      case T.U64:
        return this.read((b, o) => b.readBigUInt64LE(o), 8);
      case T.I64:
        return this.read((b, o) => b.readBigInt64LE(o), 8);
      case T.F64:
        return this.read((b, o) => b.readDoubleLE(o), 8);
      default:
        throw new TrainerError('TRAINER_GGUF_INVALID', `${this.path}: unknown GGUF value type ${type}`);
    }
  }
}

/** Reads the header of a GGUF file: metadata (long arrays summarised by their length) and tensor infos. */
export function readGgufHeader(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw new TrainerError('TRAINER_IO', `cannot open ${path}: ${errorMessage(cause)}`, { cause });
  }
  try {
    const c = new Cursor(fd, path);
    if (c.u32() !== GGUF_MAGIC) throw new TrainerError('TRAINER_GGUF_INVALID', `${path} is not a GGUF file`);
    const version = c.u32();
    if (version !== 2 && version !== 3)
      throw new TrainerError('TRAINER_GGUF_INVALID', `${path}: unsupported GGUF version ${version}`);
    const nTensors = c.u64();
    const nKv = c.u64();
    if (nTensors > 1e6 || nKv > 1e6)
      throw new TrainerError('TRAINER_GGUF_INVALID', `${path}: implausible header counts`);
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.str();
      const type = c.u32();
      if (type === T.ARRAY) {
        const arrayType = c.u32();
        const length = c.u64();
        if (length <= MAX_MATERIALISED_ARRAY) {
          const values: GgufScalar[] = [];
          for (let j = 0; j < length; j++) values.push(c.scalar(arrayType));
          metadata.set(key, values);
        } else {
          if (arrayType === T.STRING) for (let j = 0; j < length; j++) c.skip(c.u64());
          else if (SCALAR_BYTES[arrayType] !== undefined)
            c.skip(length * (SCALAR_BYTES[arrayType] as number));
          else
            throw new TrainerError(
              'TRAINER_GGUF_INVALID',
              `${path}: unsupported array type ${arrayType} in ${key}`,
            );
          metadata.set(key, { arrayType, length });
        }
      } else {
        metadata.set(key, c.scalar(type));
      }
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < nTensors; i++) {
      const name = c.str();
      const nDims = c.u32();
      if (nDims < 1 || nDims > 4)
        throw new TrainerError('TRAINER_GGUF_INVALID', `${path}: tensor ${name} has ${nDims} dims`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(c.u64());
      const type = c.u32();
      const offset = c.u64();
      tensors.push({ name, ne, type, offset });
    }
    const alignmentValue = metadata.get('general.alignment');
    const alignment =
      typeof alignmentValue === 'number' && alignmentValue > 0 ? alignmentValue : DEFAULT_ALIGNMENT;
    const dataOffset = c.pos + pad(c.pos, alignment);
    return { version, metadata, tensors, alignment, dataOffset };
  } finally {
    closeSync(fd);
  }
}

/** Reads an F32 tensor's values (adapters). */
export async function readGgufTensorF32(path: string, file: GgufFile, name: string): Promise<Float32Array> {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw new TrainerError('TRAINER_GGUF_INVALID', `${path} has no tensor ${name}`);
  if (info.type !== GGML_TYPE.F32)
    throw new TrainerError('TRAINER_GGUF_INVALID', `${path}: tensor ${name} is not F32`);
  const n = info.ne.reduce((a, b) => a * b, 1);
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n * 4);
    const { bytesRead } = await handle.read(buf, 0, buf.length, file.dataOffset + info.offset);
    if (bytesRead !== buf.length)
      throw new TrainerError('TRAINER_GGUF_INVALID', `${path}: tensor ${name} is truncated`);
    return new Float32Array(buf.buffer, buf.byteOffset, n);
  } finally {
    await handle.close();
  }
}

export function metaString(file: GgufFile, key: string): string | undefined {
  const v = file.metadata.get(key);
  return typeof v === 'string' ? v : undefined;
}

export function metaNumber(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}
