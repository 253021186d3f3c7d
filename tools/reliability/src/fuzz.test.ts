// Fuzz (issue 15), short version: SARAI_FUZZ_CASES (default 300) generated requests per skill contract against the
// real skill processes. The full run (10 000 per contract): `nx run @sarai/reliability:fuzz`.
import { describe, expect, it } from 'vitest';
import { fuzzAll } from './fuzz/fuzz.js';
import { tinyDraftModel } from './fuzz/model.js';

const CASES = Number(process.env['SARAI_FUZZ_CASES'] ?? 300);

describe('fuzzing every skill contract', () => {
  it('random and boundary values in every field, random bytes: 0 crashes, 0 INTERNAL/UNKNOWN', async () => {
    const reports = await fuzzAll({ cases: CASES, draftModel: await tinyDraftModel(), seed: 21 });
    for (const r of reports) console.log(JSON.stringify(r));
    expect(reports.map((r) => r.contract)).toHaveLength(4);
    for (const r of reports) {
      expect(r.crashes, r.contract).toEqual([]);
      expect(r.forbidden, r.contract).toEqual([]);
      expect(Object.values(r.outcomes).reduce((a, b) => a + b, 0)).toBe(CASES);
      // Every contract is exercised past validation too, not only refused.
      expect(r.outcomes['OK'] ?? 0, r.contract).toBeGreaterThan(0);
    }
  });
});
