// Memory bounds (issue 15), short versions: each hostile set sent repeatedly to the real process (container
// allocator settings); RSS before/after is printed and must return near the steady level. The full run over every
// skill (5 rounds): `nx run @sarai/reliability:hostile`.
import { describe, expect, it } from 'vitest';
import { tinyDraftModel } from './fuzz/model.js';
import { hostileAll, type HostileReport } from './hostile/hostile.js';

const run = async (skill: string, rounds: number): Promise<HostileReport> => {
  const [r] = await hostileAll({ rounds, draftModel: await tinyDraftModel(), only: [skill] });
  console.log(JSON.stringify(r));
  if (!r) throw new Error('no report');
  expect(r.alive).toBe(true);
  expect(Object.keys(r.outcomes).filter((k) => /INTERNAL|UNKNOWN|unexpected/.test(k))).toEqual([]);
  return r;
};

describe('hostile inputs', () => {
  it(
    'draft: refused without work, still serving, RSS back near its steady level',
    { timeout: 480_000 },
    async () => {
      const r = await run('draft', 2);
      expect(r.outcomes['RESOURCE_EXHAUSTED']).toBeGreaterThan(0);
      expect(r.outcomes['INVALID_ARGUMENT']).toBeGreaterThan(0);
      // Before the fix one 20 MB prompt added ~520 MiB that stayed. Now the whole set, twice, stays within 64 MiB.
      for (const after of r.afterRoundsMb) expect(after).toBeLessThan(r.steadyMb + 64);
    },
  );

  it('image: decode bombs and garbage refused, RSS plateaus near steady', { timeout: 300_000 }, async () => {
    const r = await run('image', 4);
    expect(r.outcomes['INVALID_ARGUMENT']).toBeGreaterThan(0);
    expect(r.outcomes['RESOURCE_EXHAUSTED']).toBeGreaterThan(0);
    // Measured (5 rounds, 3 runs): steady 90-93 MiB, after each round 128-186 MiB, flat from round 3 (±7 MiB),
    // 15 rounds the same. What stays is libvips' operation cache (sharp's default: up to 50 MiB) and freed decode
    // buffers kept by glibc's two arenas (MALLOC_ARENA_MAX=2; one 4000×4000 RGB decode is 46 MiB). Bound: 128 MiB
    // above steady, and no growth once the plateau is reached (round 4 within 16 MiB of round 3).
    for (const after of r.afterRoundsMb) expect(after).toBeLessThan(r.steadyMb + 128);
    const [, , third, fourth] = r.afterRoundsMb as [number, number, number, number];
    expect(fourth).toBeLessThan(third + 16);
  });

  it('sandbox: hogs, floods and huge requests stopped, RSS near steady', { timeout: 300_000 }, async () => {
    const r = await run('sandbox', 4);
    expect(r.outcomes['INVALID_ARGUMENT']).toBeGreaterThan(0);
    // Measured: steady 71-73 MiB; after 5 rounds 103-105, after 25 rounds 121 (flat within 2 MiB over the last 10):
    // V8 growing the skill's heap to its working size (1 MiB programs, 10 000-test requests), not a leak. The test
    // children are separate processes with their own limits. Bound: 64 MiB above steady.
    for (const after of r.afterRoundsMb) expect(after).toBeLessThan(r.steadyMb + 64);
  });

  it(
    'serve (HTTP API): clean OpenAI-shaped 4xx, 429 with Retry-After, still serving, RSS back near steady',
    { timeout: 300_000 },
    async () => {
      const r = await run('serve', 2);
      for (const status of ['400', '413', '429', 'dropped', 'served'])
        expect(r.outcomes[status]).toBeGreaterThan(0);
      // Measured (5 rounds, 2 runs): steady 128-134 MiB, peak 321-345 MiB while parsing 14-16 MiB bodies; V8 returns
      // that heap after a few idle seconds (RSS read once within 32 MiB of steady, at most 30 s): 133-140 MiB,
      // once 323 MiB after a fixed 10 s. Bound: 64 MiB above steady.
      for (const after of r.afterRoundsMb) expect(after).toBeLessThan(r.steadyMb + 64);
    },
  );
});
