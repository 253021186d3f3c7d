import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TINY_MODEL } from './test-support/models.js';
import { publishTestAdapter, testKey } from './test-support/adapters.js';
import { collectStream, genReq, startTestServer } from './test-support/server.js';

const MiB = 1024 * 1024;

// Own test file = own worker process, so the RSS figures are these servers' alone (in-place first: its figures are
// not raised by the other run's freed memory).
describe('memory over many adapter swaps', () => {
  it.each([
    { release: 'in-place', minModelSwaps: 0, maxModelSwaps: 0 },
    { release: 'with-model', minModelSwaps: 9, maxModelSwaps: 20 },
  ])(
    '20 swaps, ADAPTERS_RELEASE=$release: ≤ 2 model instances, ≤ ADAPTERS_PER_MODEL adapter files each, RSS printed against 1 swap',
    async ({ release, minModelSwaps, maxModelSwaps }) => {
      const K = 3;
      const root = await mkdtemp(join(tmpdir(), 'sarai-draft-swaps-'));
      const dir = join(root, 'adapters');
      await mkdir(dir);
      const key = await testKey();
      await writeFile(join(root, 'trusted.asc'), key.pair.publicKeyArmored);
      const s = await startTestServer({
        MAX_CONCURRENT: '2',
        ADAPTERS_DIR: dir,
        TRUSTED_KEYS_FILE: join(root, 'trusted.asc'),
        ADAPTERS_RESCAN_MS: '0',
        ADAPTERS_PER_MODEL: String(K),
        ADAPTERS_RELEASE: release,
      });
      try {
        const engine = s.service.engine;
        if (!engine) throw new Error('engine not loaded');
        let maxInstances = 0;
        let maxFiles = 0;
        let maxServed = 0;
        let rss1 = 0;
        for (let k = 1; k <= 20; k++) {
          // A generation in flight across every swap, so replaced contexts and instances really have to drain.
          const inflight = collectStream(
            s.conn,
            genReq({ prompt: `swap ${k}`, maxTokens: 64, temperature: 0.5, seed: k }),
          );
          const a = await publishTestAdapter({ dir, baseModelPath: TINY_MODEL, key, seed: 1000 + k });
          const r = (await s.conn.skill.reloadAdapters({})).response;
          expect(r.active).toBe(a.name);
          for (const stats of [engine.stats()]) {
            maxInstances = Math.max(maxInstances, stats.instances.length);
            for (const i of stats.instances) maxFiles = Math.max(maxFiles, i.adapterFiles);
            maxServed = Math.max(maxServed, stats.variants.length);
          }
          expect((await inflight).final?.tokensGenerated).toBe(64);
          const { response } = await s.conn.skill.generate(
            genReq({ prompt: `after swap ${k}`, maxTokens: 8 }),
          );
          expect(response.adapter).toBe(a.name);
          if (k === 1) {
            await engine.settled();
            rss1 = process.memoryUsage().rss;
          }
        }
        await engine.settled();
        const rss20 = process.memoryUsage().rss;
        const stats = engine.stats();
        console.log(
          `${release}: RSS after 1 swap ${(rss1 / MiB).toFixed(1)} MiB, after 20 swaps ${(rss20 / MiB).toFixed(1)} MiB ` +
            `(Δ ${((rss20 - rss1) / MiB).toFixed(1)} MiB); swaps ${JSON.stringify(stats.swaps)}, ` +
            `max instances ${maxInstances}, max adapter files per instance ${maxFiles} (K = ${K}), max served contexts ${maxServed}`,
        );
        // The structural bound of the design: never more than 2 model instances, never more than K adapter files on
        // one, and once drained a single instance. Freed in place, every swap stays on the first instance; else fresh
        // instances really replaced old ones along the way.
        expect(maxInstances).toBeLessThanOrEqual(2);
        expect(maxFiles).toBeLessThanOrEqual(K);
        // Served contexts: base, the previous default and the new adapter (no ADAPTERS variants here).
        expect(maxServed).toBeLessThanOrEqual(3);
        expect(stats.instances).toHaveLength(1);
        expect(stats.instances[0]?.contexts).toBe(stats.variants.length);
        expect(stats.swaps.model).toBeGreaterThanOrEqual(minModelSwaps);
        expect(stats.swaps.model).toBeLessThanOrEqual(maxModelSwaps);
        expect(stats.instances[0]?.adapterFiles).toBeLessThanOrEqual(release === 'in-place' ? 2 : K);
      } finally {
        await s.close();
        await rm(root, { recursive: true, force: true });
      }
    },
  );
});
