import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../prng.js';
import { meta } from './metadata.js';
import { decode, encode, f16ToF32, f32ToF16, tensorBytes } from './quant.js';
import { metaNumber, metaString, readGgufHeader, readGgufTensorF32 } from './reader.js';
import { encodeGguf, f32Tensor, ggufHeader, writeGguf, type GgufFileSpec } from './writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sarai-formats-gguf-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const adapterSpec = (a: Float32Array, b: Float32Array): GgufFileSpec => ({
  metadata: [
    ['general.architecture', meta.str('qwen2')],
    ['adapter.lora.alpha', meta.f32(16)],
    ['x.count', meta.u32(7)],
    ['x.flag', meta.bool(true)],
    ['x.list', meta.arr('string', ['a', 'bc'])],
    [
      'x.big',
      meta.arr(
        'u32',
        Array.from({ length: 300 }, (_, i) => i),
      ),
    ],
  ],
  tensors: [
    f32Tensor('blk.0.attn_q.weight.lora_a', [3, 2], a),
    f32Tensor('blk.0.attn_q.weight.lora_b', [2, 5], b),
  ],
});

describe('GGUF writer and reader', () => {
  it('writes a file that reads back: metadata, shapes, 32-byte aligned data, long arrays summarised', async () => {
    const a = Float32Array.from({ length: 6 }, (_, i) => i / 7);
    const b = Float32Array.from({ length: 10 }, (_, i) => -i);
    const path = join(dir, 'a.gguf');
    await writeFile(path, encodeGguf(adapterSpec(a, b)));
    const file = readGgufHeader(path);
    expect(file.version).toBe(3);
    expect(metaString(file, 'general.architecture')).toBe('qwen2');
    expect(metaNumber(file, 'adapter.lora.alpha')).toBe(16);
    expect(file.metadata.get('x.count')).toBe(7);
    expect(file.metadata.get('x.flag')).toBe(true);
    expect(file.metadata.get('x.list')).toEqual(['a', 'bc']);
    expect(file.metadata.get('x.big')).toEqual({ arrayType: 4, length: 300 });
    expect(file.tensors.map((t) => [t.name, t.ne, t.type])).toEqual([
      ['blk.0.attn_q.weight.lora_a', [3, 2], 0],
      ['blk.0.attn_q.weight.lora_b', [2, 5], 0],
    ]);
    expect(file.dataOffset % 32).toBe(0);
    expect(file.tensors[1]?.offset).toBe(32);
    expect(await readGgufTensorF32(path, file, 'blk.0.attn_q.weight.lora_a')).toEqual(a);
    expect(await readGgufTensorF32(path, file, 'blk.0.attn_q.weight.lora_b')).toEqual(b);
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

describe('quantization', () => {
  it('fp16 round-trips representable values and rounds to nearest even', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5]) expect(f16ToF32(f32ToF16(v))).toBe(v);
    expect(f32ToF16(1 + 2 ** -11)).toBe(f32ToF16(1));
  });

  it.each(['Q8_0', 'Q4_0', 'F16', 'F32'] as const)('%s encodes and decodes within its step size', (type) => {
    const src = new Float32Array(32 * 8);
    new Prng(3).fillUniform(src, 1);
    const buf = Buffer.alloc(tensorBytes(type, src.length));
    expect(encode(type, src, buf)).toBe(buf.length);
    const back = decode(type, buf, src.length);
    const tolerance = { Q8_0: 1.8 / 127, Q4_0: 1.8 / 7, F16: 2e-3, F32: 0 }[type];
    for (let i = 0; i < src.length; i++)
      expect(Math.abs((back[i] as number) - (src[i] as number))).toBeLessThanOrEqual(tolerance + 1e-6);
  });
});
