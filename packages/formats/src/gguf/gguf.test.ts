import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../prng.js';
import { meta, type GgufMetaValue } from './metadata.js';
import { decode, encode, f16ToF32, f32ToF16, tensorBytes } from './quant.js';
import { metaNumber, metaString, readGgufHeader, readGgufTensorF32 } from './reader.js';
import { encodeGguf, f32Tensor, ggufHeader, writeGguf, type GgufFileSpec } from './writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sarai-formats-gguf-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('GGUF writer and reader', () => {
  it('round-trips every metadata value type, summarises long arrays, aligns and reads F32 data back', async () => {
    const values: Array<[string, GgufMetaValue, unknown]> = [
      ['t.u8', { type: 'u8', value: 200 }, 200],
      ['t.i8', { type: 'i8', value: -5 }, -5],
      ['t.u16', { type: 'u16', value: 60000 }, 60000],
      ['t.i16', { type: 'i16', value: -300 }, -300],
      ['t.u32', meta.u32(4e9), 4e9],
      ['t.i32', meta.i32(-7), -7],
      ['t.f32', meta.f32(0.5), 0.5],
      ['t.bool', meta.bool(false), false],
      ['t.str', meta.str('héllo'), 'héllo'],
      ['t.u64', meta.u64(2n ** 40n), 2n ** 40n],
      ['t.i64', { type: 'i64', value: -(2n ** 40n) }, -(2n ** 40n)],
      ['t.f64', { type: 'f64', value: Math.PI }, Math.PI],
      ['t.strs', meta.arr('string', ['x', 'yz']), ['x', 'yz']],
      [
        't.long',
        meta.arr(
          'u32',
          Array.from({ length: 300 }, (_, i) => i),
        ),
        { arrayType: 4, length: 300 },
      ],
    ];
    const lo = Float32Array.from({ length: 12 }, (_, i) => i / 3 - 1);
    const hi = Float32Array.from({ length: 5 }, (_, i) => 2 ** i);
    const path = join(dir, 'round-trip.gguf');
    await writeFile(
      path,
      encodeGguf({
        metadata: values.map(([k, v]) => [k, v] as const),
        tensors: [f32Tensor('lo', [4, 3], lo), f32Tensor('hi', [5], hi)],
      }),
    );
    const file = readGgufHeader(path);
    for (const [key, , expected] of values) expect([key, file.metadata.get(key)]).toEqual([key, expected]);
    expect(metaNumber(file, 't.u64')).toBe(2 ** 40);
    expect(metaString(file, 't.u32')).toBeUndefined();
    expect(file.tensors).toEqual([
      { name: 'lo', ne: [4, 3], type: 0, offset: 0 },
      { name: 'hi', ne: [5], type: 0, offset: 64 },
    ]);
    expect(file.dataOffset % file.alignment).toBe(0);
    expect(await readGgufTensorF32(path, file, 'lo')).toEqual(lo);
    expect(await readGgufTensorF32(path, file, 'hi')).toEqual(hi);
    await expect(readGgufTensorF32(path, file, 'absent')).rejects.toMatchObject({
      code: 'FORMATS_GGUF_INVALID',
    });
  });

  it('streams the same bytes as it encodes in memory, for every tensor type, with explicit alignment', async () => {
    const prng = new Prng(11);
    const spec: GgufFileSpec = {
      alignment: 64,
      metadata: [['general.name', meta.str('mixed')]],
      tensors: (['F32', 'F16', 'Q8_0', 'Q4_0'] as const).map((type) => ({
        name: `t.${type}`,
        dims: [64, 3],
        type,
        fill: (_start: number, out: Float32Array) => prng.fork(type).fillUniform(out, 1),
      })),
    };
    const path = join(dir, 'mixed.gguf');
    const { bytes } = await writeGguf(path, spec);
    const onDisk = await readFile(path);
    expect(onDisk.length).toBe(bytes);
    expect(onDisk.equals(encodeGguf(spec))).toBe(true);
    const file = readGgufHeader(path);
    expect(file.alignment).toBe(64);
    expect(file.tensors.map((t) => t.type)).toEqual([0, 1, 8, 2]);
    const { header, dataBytes } = ggufHeader(spec);
    expect(header.length + dataBytes).toBe(bytes);
  });

  it('rejects invalid specs before creating a file', async () => {
    const path = join(dir, 'never.gguf');
    const t = f32Tensor('x', [32], new Float32Array(32));
    await expect(writeGguf(path, { metadata: [], tensors: [t, t] })).rejects.toMatchObject({
      code: 'FORMATS_GGUF_INVALID',
      message: 'duplicate tensor name x',
    });
    expect(() => f32Tensor('y', [3, 3], new Float32Array(8))).toThrow(
      expect.objectContaining({ code: 'FORMATS_GGUF_INVALID' }),
    );
    expect(() =>
      encodeGguf({ metadata: [], tensors: [{ name: 'q', dims: [31], type: 'Q8_0', fill: () => undefined }] }),
    ).toThrow(/rows must be a multiple of 32/);
    expect(() => encodeGguf({ metadata: [], tensors: [], alignment: 24 })).toThrow(
      expect.objectContaining({ code: 'FORMATS_INVALID_ARGUMENT' }),
    );
    await expect(readFile(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a file that is not GGUF, a truncated one, and a missing one', async () => {
    const junk = join(dir, 'junk.gguf');
    await writeFile(junk, 'definitely not a model');
    expect(() => readGgufHeader(junk)).toThrow(expect.objectContaining({ code: 'FORMATS_GGUF_INVALID' }));
    const cut = join(dir, 'cut.gguf');
    await writeFile(
      cut,
      encodeGguf({ metadata: [['general.architecture', meta.str('qwen2')]], tensors: [] }),
    );
    await truncate(cut, 20);
    expect(() => readGgufHeader(cut)).toThrow(expect.objectContaining({ code: 'FORMATS_GGUF_INVALID' }));
    expect(() => readGgufHeader(join(dir, 'absent.gguf'))).toThrow(
      expect.objectContaining({ code: 'FORMATS_IO' }),
    );
  });
});

// Moved unchanged from skill-draft's gguf.test.ts together with the quantizers.
describe('quantization', () => {
  it('fp16 round-trips representable values and rounds to nearest', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8])
      expect(f16ToF32(f32ToF16(v))).toBe(v);
    expect(f32ToF16(1 + 2 ** -11)).toBe(f32ToF16(1)); // tie → even
    expect(f16ToF32(f32ToF16(1e6))).toBe(Infinity);
  });

  it.each(['Q8_0', 'Q4_0', 'F16', 'F32'] as const)('%s encodes and decodes within its step size', (type) => {
    const src = new Float32Array(32 * 64);
    new Prng(3).fillUniform(src, 1);
    const buf = Buffer.alloc(tensorBytes(type, src.length));
    expect(encode(type, src, buf)).toBe(buf.length);
    const back = decode(type, buf, src.length);
    const tolerance = { Q8_0: 1.8 / 127, Q4_0: 1.8 / 7, F16: 2e-3, F32: 0 }[type];
    for (let i = 0; i < src.length; i++)
      expect(Math.abs((back[i] as number) - (src[i] as number))).toBeLessThanOrEqual(tolerance + 1e-6);
  });
});
