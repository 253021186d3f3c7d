import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { FormatsError } from '../errors.js';
import { errorMessage } from '../error-message.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_SCALAR_BYTES,
  GGUF_VALUE_TYPE as T,
  alignPad,
  type GgufScalar,
} from './metadata.js';
import { GGML_TYPE } from './quant.js';

/** Arrays longer than this are not materialised by the reader (tokenizer vocabularies): only their length. */
const MAX_MATERIALISED_ARRAY = 256;

/** A metadata value as read: a scalar, a short array, or a long array summarised by its item type and length. */
export type GgufValue = GgufScalar | GgufScalar[] | { arrayType: number; length: number };

/** One tensor's entry in the header. */
export interface GgufTensorInfo {
  name: string;
  /** Dimensions in ggml order (ne[0] = row length). */
  ne: number[];
  /** ggml type id ({@link GGML_TYPE}). */
  type: number;
  /** Offset of the data relative to the data section. */
  offset: number;
}

/** The parsed header of a GGUF file (v2 or v3). */
export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the tensor data section. */
  dataOffset: number;
}

const invalid = (message: string) => new FormatsError('FORMATS_GGUF_INVALID', message);

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
    if (read < n) throw invalid(`${this.path}: truncated GGUF header`);
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
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${this.path}: 64-bit value out of range`);
    return Number(v);
  }
  str(): string {
    const n = this.u64();
    if (n > 1 << 24) throw invalid(`${this.path}: string of ${n} bytes`);
    const o = this.at(n);
    return this.buf.toString('utf8', o, o + n);
  }
  skip(n: number): void {
    this.pos += n;
  }
  scalar(type: number): GgufScalar {
    switch (type) {
      case T.u8:
        return this.u8();
      case T.i8:
        return this.read((b, o) => b.readInt8(o), 1);
      case T.u16:
        return this.read((b, o) => b.readUInt16LE(o), 2);
      case T.i16:
        return this.read((b, o) => b.readInt16LE(o), 2);
      case T.u32:
        return this.u32();
      case T.i32:
        return this.read((b, o) => b.readInt32LE(o), 4);
      case T.f32:
        return this.read((b, o) => b.readFloatLE(o), 4);
      case T.bool:
        return this.u8() !== 0;
      case T.string:
        return this.str();
      case T.u64:
        return this.read((b, o) => b.readBigUInt64LE(o), 8);
      case T.i64:
        return this.read((b, o) => b.readBigInt64LE(o), 8);
      case T.f64:
        return this.read((b, o) => b.readDoubleLE(o), 8);
      default:
        throw invalid(`${this.path}: unknown GGUF value type ${type}`);
    }
  }
}

function readMetadata(c: Cursor, path: string, nKv: number): Map<string, GgufValue> {
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str();
    const type = c.u32();
    if (type !== T.array) {
      metadata.set(key, c.scalar(type));
      continue;
    }
    const arrayType = c.u32();
    const length = c.u64();
    if (length <= MAX_MATERIALISED_ARRAY) {
      const values: GgufScalar[] = [];
      for (let j = 0; j < length; j++) values.push(c.scalar(arrayType));
      metadata.set(key, values);
      continue;
    }
    if (arrayType === T.string) for (let j = 0; j < length; j++) c.skip(c.u64());
    else if (GGUF_SCALAR_BYTES[arrayType] !== undefined)
      c.skip(length * (GGUF_SCALAR_BYTES[arrayType] as number));
    else throw invalid(`${path}: unsupported array type ${arrayType} in ${key}`);
    metadata.set(key, { arrayType, length });
  }
  return metadata;
}

/**
 * Reads the header of a GGUF file (v2 or v3): metadata (arrays of more than 256 items summarised by their
 * length) and tensor infos. Reads only the header, however large the file.
 * @throws FormatsError `FORMATS_IO` when the file cannot be opened, `FORMATS_GGUF_INVALID` when it is not a
 * well-formed GGUF header.
 */
export function readGgufHeader(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw new FormatsError('FORMATS_IO', `cannot open ${path}: ${errorMessage(cause)}`, { cause });
  }
  try {
    const c = new Cursor(fd, path);
    if (c.u32() !== GGUF_MAGIC) throw invalid(`${path} is not a GGUF file`);
    const version = c.u32();
    if (version !== 2 && version !== 3) throw invalid(`${path}: unsupported GGUF version ${version}`);
    const nTensors = c.u64();
    const nKv = c.u64();
    if (nTensors > 1e6 || nKv > 1e6) throw invalid(`${path}: implausible header counts`);
    const metadata = readMetadata(c, path, nKv);
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < nTensors; i++) {
      const name = c.str();
      const nDims = c.u32();
      if (nDims < 1 || nDims > 4) throw invalid(`${path}: tensor ${name} has ${nDims} dims`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(c.u64());
      const type = c.u32();
      const offset = c.u64();
      tensors.push({ name, ne, type, offset });
    }
    const alignmentValue = metadata.get('general.alignment');
    const alignment =
      typeof alignmentValue === 'number' && alignmentValue > 0 ? alignmentValue : GGUF_DEFAULT_ALIGNMENT;
    const dataOffset = c.pos + alignPad(c.pos, alignment);
    return { version, metadata, tensors, alignment, dataOffset };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads an F32 tensor's values (adapters) from a file whose header `file` was read by {@link readGgufHeader}.
 * @throws FormatsError `FORMATS_GGUF_INVALID` when the tensor is absent, not F32 or truncated.
 */
export async function readGgufTensorF32(path: string, file: GgufFile, name: string): Promise<Float32Array> {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw invalid(`${path} has no tensor ${name}`);
  if (info.type !== GGML_TYPE.F32) throw invalid(`${path}: tensor ${name} is not F32`);
  const n = info.ne.reduce((a, b) => a * b, 1);
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n * 4);
    const { bytesRead } = await handle.read(buf, 0, buf.length, file.dataOffset + info.offset);
    if (bytesRead !== buf.length) throw invalid(`${path}: tensor ${name} is truncated`);
    return new Float32Array(buf.buffer, buf.byteOffset, n);
  } finally {
    await handle.close();
  }
}

/** A string metadata value, or undefined when absent or of another type. */
export function metaString(file: GgufFile, key: string): string | undefined {
  const v = file.metadata.get(key);
  return typeof v === 'string' ? v : undefined;
}

/** A numeric metadata value (64-bit values converted to number), or undefined when absent or not a number. */
export function metaNumber(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}
