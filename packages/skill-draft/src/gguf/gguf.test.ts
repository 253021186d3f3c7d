import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { tensorBytes } from '@sarai/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToUnicode, byteLevelVocab } from './tokenizer.js';
import { MODEL_PRESETS, generateLoraAdapter, generateModel } from './models.js';
import { TINY_MODEL } from '../test-support/models.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gguf-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('byte-level BPE vocabulary', () => {
  it('maps all 256 bytes to distinct printable code points, learns merges and places control tokens', () => {
    expect(new Set(bytesToUnicode()).size).toBe(256);
    const v = byteLevelVocab({
      mergedWords: [' t', 'he', ' the', 'xyz'],
      specials: ['<|endoftext|>', '<|im_end|>'],
      size: 300,
    });
    expect(v.tokens).toHaveLength(300);
    expect(new Set(v.tokens).size).toBe(300);
    expect(v.merges).toEqual(['Ġ t', 'h e', 'Ġt he']); // 'xyz' has no known halves: skipped
    expect(v.types[v.special['<|im_end|>'] as number]).toBe(3);
  });
});

describe('generated models', () => {
  it('the tiny model is a ≤ 1 MB qwen2 GGUF with a byte-level BPE tokenizer and a ChatML template', async () => {
    const info = await readGgufFileInfo(TINY_MODEL, { logWarnings: false });
    expect((await stat(TINY_MODEL)).size).toBeLessThanOrEqual(1024 * 1024);
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md['general']?.['architecture']).toBe('qwen2');
    const tok = md['tokenizer']?.['ggml'] as Record<string, unknown>;
    expect(tok['model']).toBe('gpt2');
    expect(tok['pre']).toBe('qwen2');
    expect((tok['merges'] as string[]).length).toBeGreaterThan(40);
    expect(md['tokenizer']?.['chat_template']).toContain('<|im_start|>');
    expect(info.tensorInfo?.map((t) => t.name)).toContain('blk.1.attn_q.bias');
  });

  it('the same seed writes the same bytes; another seed other weights', async () => {
    const hash = async (p: string) =>
      createHash('sha256')
        .update(await readFile(p))
        .digest('hex');
    const a = await generateModel({ preset: 'tiny', type: 'Q4_0', seed: 9, path: join(dir, 'a.gguf') });
    const b = await generateModel({ preset: 'tiny', type: 'Q4_0', seed: 9, path: join(dir, 'b.gguf') });
    const c = await generateModel({ preset: 'tiny', type: 'Q4_0', seed: 10, path: join(dir, 'c.gguf') });
    expect(await hash(a.path)).toBe(await hash(b.path));
    expect(await hash(a.path)).not.toBe(await hash(c.path));
  });

  it('Qwen2.5-0.5B dimensions and file sizes match the real Q4_0/Q8_0 layouts (header only)', async () => {
    const d = MODEL_PRESETS['qwen2.5-0.5b'];
    const perLayer =
      d.nEmbd * d.nEmbd * 2 + d.nEmbd * (d.nEmbd / d.nHead) * d.nHeadKv * 2 + d.nEmbd * d.nFf * 3;
    const params = perLayer * d.nLayer + d.nEmbd * d.nVocab;
    expect(params).toBeGreaterThan(490e6);
    expect(params).toBeLessThan(500e6);
    expect(tensorBytes('Q4_0', params) / 2 ** 20).toBeCloseTo(265, -1);
    expect(tensorBytes('Q8_0', params) / 2 ** 20).toBeCloseTo(500, -1);
  });

  it('writes LoRA adapters as GGUF adapter files', async () => {
    const path = join(dir, 'lora.gguf');
    await generateLoraAdapter({
      preset: 'tiny',
      targets: ['attn_q', 'ffn_down'],
      rank: 2,
      alpha: 4,
      seed: 1,
      path,
    });
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md['general']?.['type']).toBe('adapter');
    expect((md['adapter'] as Record<string, unknown>)['type']).toBe('lora');
    const a = info.tensorInfo?.find((t) => t.name === 'blk.0.ffn_down.weight.lora_a');
    expect(a?.dimensions.map(Number)).toEqual([MODEL_PRESETS.tiny.nFf, 2]);
  });
});
