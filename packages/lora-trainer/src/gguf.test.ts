import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGguf, metaNumber, metaString, readGgufHeader, readGgufTensorF32 } from './gguf.js';
import { TINY_MODEL } from './test-support/models.js';

describe('GGUF', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-gguf-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes an adapter file that reads back: metadata, shapes, 32-byte aligned data', async () => {
    const a = Float32Array.from({ length: 6 }, (_, i) => i / 7);
    const b = Float32Array.from({ length: 10 }, (_, i) => -i);
    const path = join(dir, 'a.gguf');
    const bytes = encodeGguf(
      [
        ['general.architecture', { type: 'string', value: 'qwen2' }],
        ['adapter.lora.alpha', { type: 'f32', value: 16 }],
        ['x.count', { type: 'u32', value: 7 }],
        ['x.flag', { type: 'bool', value: true }],
        ['x.list', { type: 'string[]', value: ['a', 'bc'] }],
      ],
      [
        { name: 'blk.0.attn_q.weight.lora_a', ne: [3, 2], data: a },
        { name: 'blk.0.attn_q.weight.lora_b', ne: [2, 5], data: b },
      ],
    );
    await writeFile(path, bytes);
    const file = readGgufHeader(path);
    expect(file.version).toBe(3);
    expect(metaString(file, 'general.architecture')).toBe('qwen2');
    expect(metaNumber(file, 'adapter.lora.alpha')).toBe(16);
    expect(file.metadata.get('x.count')).toBe(7);
    expect(file.metadata.get('x.flag')).toBe(true);
    expect(file.metadata.get('x.list')).toEqual(['a', 'bc']);
    expect(file.tensors.map((t) => [t.name, t.ne, t.type])).toEqual([
      ['blk.0.attn_q.weight.lora_a', [3, 2], 0],
      ['blk.0.attn_q.weight.lora_b', [2, 5], 0],
    ]);
    expect(file.dataOffset % 32).toBe(0);
    expect(file.tensors[1]?.offset).toBe(32);
    expect(await readGgufTensorF32(path, file, 'blk.0.attn_q.weight.lora_a')).toEqual(a);
    expect(await readGgufTensorF32(path, file, 'blk.0.attn_q.weight.lora_b')).toEqual(b);
  });

  it('reads a generated model header (long tokenizer arrays summarised)', () => {
    const file = readGgufHeader(TINY_MODEL);
    expect(metaString(file, 'general.architecture')).toBe('qwen2');
    expect(file.metadata.get('tokenizer.ggml.tokens')).toMatchObject({ arrayType: 8 });
    const q = file.tensors.find((t) => t.name === 'blk.0.attn_q.weight');
    expect(q?.ne).toEqual([64, 64]);
  });

  it('rejects a file that is not GGUF, and a truncated one', async () => {
    const junk = join(dir, 'junk.gguf');
    await writeFile(junk, 'definitely not a model');
    expect(() => readGgufHeader(junk)).toThrow(expect.objectContaining({ code: 'TRAINER_GGUF_INVALID' }));
    const cut = join(dir, 'cut.gguf');
    await writeFile(cut, encodeGguf([['general.architecture', { type: 'string', value: 'qwen2' }]], []));
    await truncate(cut, 20);
    expect(() => readGgufHeader(cut)).toThrow(expect.objectContaining({ code: 'TRAINER_GGUF_INVALID' }));
    expect(() => readGgufHeader(join(dir, 'absent.gguf'))).toThrow(
      expect.objectContaining({ code: 'TRAINER_IO' }),
    );
  });
});
