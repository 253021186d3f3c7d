// Freeing a replaced adapter's weights in place (EngineOptions.releaseAdapters): swaps stay on one model instance,
// an adapter still generating is never freed, and a freed file loads again with the same output.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DraftEngine } from '../engine.js';
import { generateLoraAdapter } from '../gguf/models.js';
import { TINY_MODEL } from '../test-support/models.js';

const engineWith = (releaseAdapters: boolean) =>
  DraftEngine.load({
    modelPath: TINY_MODEL,
    threads: 1,
    contextSize: 512,
    sequences: 2,
    maxQueue: 4,
    maxAdaptersPerModel: 3,
    ignoreEos: true,
    releaseAdapters,
  });

describe('adapters freed in place', () => {
  let dir: string;
  const files: string[] = [];
  const req = { prompt: 'The adapter under test says', maxTokens: 24, temperature: 0 };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-release-'));
    for (let n = 0; n < 6; n++) {
      const path = join(dir, `a${n}.gguf`);
      await generateLoraAdapter({
        preset: 'tiny',
        targets: ['attn_q', 'attn_output', 'ffn_up', 'ffn_down'],
        rank: 4,
        alpha: 8,
        seed: 900 + n,
        std: 0.5,
        path,
      });
      files.push(path);
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a series of swaps stays on one model instance; a freed file loads again and gives the same text', async () => {
    const engine = await engineWith(true);
    try {
      const texts: string[] = [];
      for (const [n, path] of files.entries()) {
        const swap = await engine.setAdapter('v', [{ path, scale: 1 }], { activate: true });
        expect(swap.kind).toBe('context');
        texts.push((await engine.generate(req)).text);
        const inst = engine.stats().instances[0];
        expect(inst?.adapterFiles).toBeLessThanOrEqual(2);
        expect(engine.stats().instances).toHaveLength(1);
        if (n > 0) expect(texts[n]).not.toBe(texts[n - 1]);
      }
      await engine.settled();
      const stats = engine.stats();
      expect(stats.swaps).toEqual({ context: 6, model: 0 });
      expect(stats.releaseAdapters).toBe(true);
      expect(stats.adaptersReleased).toBe(5);
      expect(stats.instances[0]?.adapterFiles).toBe(1);
      // The first file was freed four swaps ago: it loads again, and applies the same weights.
      expect((await engine.setAdapter('v', [{ path: files[0] as string, scale: 1 }])).kind).toBe('context');
      expect((await engine.generate(req)).text).toBe(texts[0]);
    } finally {
      await engine.dispose();
    }
  });

  it('never frees an adapter a generation still uses: it finishes with the same text as alone', async () => {
    const engine = await engineWith(true);
    try {
      const long = { ...req, maxTokens: 480 };
      await engine.setAdapter('v', [{ path: files[0] as string, scale: 1 }], { activate: true });
      const alone = (await engine.generate(long)).text;
      const inflight = engine.generate(long);
      // Replaced three times while the first generation runs on a0: a1 is freed, a0 stays until it ends.
      for (const path of files.slice(1, 4)) {
        await engine.setAdapter('v', [{ path, scale: 1 }], { activate: true });
      }
      const during = engine.stats();
      expect(during.instances[0]?.inFlight).toBe(1);
      expect(during.swaps.model).toBe(0);
      expect(during.adaptersReleased).toBeGreaterThanOrEqual(1);
      expect(during.instances[0]?.adapterFiles).toBeLessThanOrEqual(3);
      expect((await inflight).text).toBe(alone);
      await engine.settled();
      expect(engine.stats().swaps.model).toBe(0);
      expect(engine.stats().instances[0]?.adapterFiles).toBe(1);
    } finally {
      await engine.dispose();
    }
  });

  it('without it (node-llama-cpp keeps adapters until the model goes), the 4th file loads a fresh model instance', async () => {
    const engine = await engineWith(false);
    try {
      const kinds: string[] = [];
      for (const path of files.slice(0, 4)) {
        kinds.push((await engine.setAdapter('v', [{ path, scale: 1 }], { activate: true })).kind);
        await engine.generate(req);
      }
      expect(kinds).toEqual(['context', 'context', 'context', 'model']);
      expect(engine.stats().adaptersReleased).toBe(0);
    } finally {
      await engine.dispose();
    }
  });
});
