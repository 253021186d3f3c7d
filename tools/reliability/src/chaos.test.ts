// Chaos in the loop (issue 15), short version: one cycle of 25 loops (kill -9, restart, SIGSTOP/SIGCONT, flapping)
// against a real draft skill process. The full run (100 loops): `nx run @sarai/reliability:chaos`.
import { describe, expect, it } from 'vitest';
import { chaosLoops } from './chaos/chaos.js';
import { tinyDraftModel } from './fuzz/model.js';

const LOOPS = Number(process.env['SARAI_CHAOS_LOOPS'] ?? 25);

describe('chaos in the loop', () => {
  it(
    'every loop answers (skill or fallback), breaker transitions logged, nothing lost from the logs',
    { timeout: 480_000 },
    async () => {
      const r = await chaosLoops({ loops: LOOPS, draftModel: await tinyDraftModel() });
      console.log(JSON.stringify(r));
      expect(r.answered).toBe(LOOPS);
      expect(r.fromFallback).toBeGreaterThan(0);
      expect(r.fromSkill).toBeGreaterThan(0);
      expect(r.breakerTransitions.some((t) => /open/.test(t))).toBe(true);
      expect(r.auditOk).toBe(true);
      expect(r.auditRecords).toBe(r.signedPrompts);
      expect(r.interactionRecords).toBe(LOOPS);
    },
  );
});
