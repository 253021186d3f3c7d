// Memory bounds (issue 15), short version: the draft skill's hostile set (the 20 MB prompt and friends) twice
// against its real process; RSS before/after is printed and must return near the steady level. The full run over
// every skill: `nx run @sarai/reliability:hostile`.
import { describe, expect, it } from 'vitest';
import { tinyDraftModel } from './fuzz/model.js';
import { hostileAll } from './hostile/hostile.js';

describe('hostile inputs', () => {
  it(
    'draft: refused without work, still serving, RSS back near its steady level',
    { timeout: 480_000 },
    async () => {
      const [r] = await hostileAll({ rounds: 2, draftModel: await tinyDraftModel(), only: ['draft'] });
      console.log(JSON.stringify(r));
      if (!r) throw new Error('no report');
      expect(r.alive).toBe(true);
      expect(r.outcomes['INTERNAL'] ?? 0).toBe(0);
      expect(r.outcomes['RESOURCE_EXHAUSTED']).toBeGreaterThan(0);
      expect(r.outcomes['INVALID_ARGUMENT']).toBeGreaterThan(0);
      // Before the fix one 20 MB prompt added ~520 MiB that stayed. Now the whole set, twice, stays within 64 MiB.
      for (const after of r.afterRoundsMb) expect(after).toBeLessThan(r.steadyMb + 64);
    },
  );
});
