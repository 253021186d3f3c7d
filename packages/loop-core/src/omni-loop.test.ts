import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { regexChecker } from './checkers.js';
import { LoopError } from './errors.js';
import type { ReflectionSigner } from './audit.js';
import { OmniLoop, type LocalDraftModel } from './omni-loop.js';
import { SkillPool } from './skill-pool.js';
import { startFakeSkill, type FakeSkill, type Scripted } from './test-support/fake-skills.js';

/** Records every signed prompt in order, next to the fake skill's receipts (shared event list). */
function recordingSigner(events: string[]): ReflectionSigner & { signed: string[] } {
  const signed: string[] = [];
  return {
    signed,
    async signAndRecord(prompt) {
      signed.push(prompt);
      events.push(`audit:appended:${signed.length}`);
      return { signature: `sig-${signed.length}`, fingerprint: 'F00D' };
    },
  };
}

const localModel = (text = 'local answer'): LocalDraftModel & { calls: string[] } => {
  const calls: string[] = [];
  return {
    calls,
    async generate(prompt) {
      calls.push(prompt);
      return { text };
    },
  };
};

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(
  draft: (prompt: string, n: number) => Scripted,
  extra: Partial<ConstructorParameters<typeof OmniLoop>[0]> = {},
) {
  const events: string[] = [];
  const skill = await startFakeSkill({ draft, events });
  const pool = new SkillPool({
    addresses: { draft: skill.address, image: skill.address },
    breaker: { resetTimeoutMs: 60_000 },
  });
  const signer = recordingSigner(events);
  const loop = new OmniLoop({ pool, signer, ...extra });
  cleanup.push(
    () => skill.stop(),
    () => pool.close(),
  );
  return { events, skill, pool, signer, loop };
}

describe('OmniLoop control flow', () => {
  it('drafts, then reflects with the seed template, signing and auditing each reflection before it is sent', async () => {
    const answers = ['Paris is in Spain.', 'Paris is in France.', 'Paris is the capital of France.'];
    const { loop, skill, signer, events } = await setup((_p, n) => ({
      text: answers[n - 1] ?? '',
      meanLogprob: Math.log(0.4),
    }));
    const r = await loop.run('Where is Paris?');
    expect(r.iterations.map((i) => i.response)).toEqual(answers);
    expect(r.iterations.map((i) => i.source)).toEqual(['skill', 'skill', 'skill']);
    expect(r.iterations[0]?.promptSignature).toBeUndefined();
    expect(r.iterations.slice(1).map((i) => i.promptSignature)).toEqual(['sig-1', 'sig-2']);
    expect(r.iterations.map((i) => i.corrected)).toEqual([false, true, true]);
    expect(r.stopReason).toBe('max-iterations');
    expect(r.fallbackUsed).toBe(false);
    expect(r.text).toBe('Paris is the capital of France.');
    expect(skill.prompts[0]).toBe('Where is Paris?');
    expect(skill.prompts[1]).toContain('[SYSTEM: Self-Reflection Mode - Iteration 2/3]');
    expect(skill.prompts[1]).toContain('Your Previous Response (Draft):\nParis is in Spain.');
    expect(skill.prompts[2]).toContain('Paris is in France.');
    // exactly what was sent is what was signed, and each audit append came before the skill received it
    expect(signer.signed).toEqual(skill.prompts.slice(1));
    expect(events).toEqual([
      'skill:received:1',
      'audit:appended:1',
      'skill:received:2',
      'audit:appended:2',
      'skill:received:3',
    ]);
  });

  it('stops early when confident', async () => {
    const { loop } = await setup(() => ({ text: 'sure', meanLogprob: Math.log(0.95) }));
    const r = await loop.run('q');
    expect(r.iterations).toHaveLength(1);
    expect(r.iterations[0]?.confidence).toBeCloseTo(0.95, 2);
    expect(r.stopReason).toBe('confident');
  });

  it('stops early when the answer no longer changes', async () => {
    const { loop } = await setup((_p, n) => ({ text: n === 1 ? 'A' : '  a ', meanLogprob: Math.log(0.2) }));
    const r = await loop.run('q');
    expect(r.iterations).toHaveLength(2);
    expect(r.stopReason).toBe('unchanged');
    expect(r.autoCorrected).toBe(false);
  });

  it('can be told to keep reflecting on an unchanged answer', async () => {
    const { loop } = await setup(() => ({ text: 'same', meanLogprob: Math.log(0.2) }), {
      stopOnUnchanged: false,
    });
    const r = await loop.run('q');
    expect(r.iterations).toHaveLength(3);
    expect(r.stopReason).toBe('max-iterations');
  });

  it('puts checker feedback into the reflection prompt and reports auto-correction', async () => {
    const { loop, skill } = await setup(
      (_p, n) => ({ text: n === 1 ? 'the answer is five' : '5', meanLogprob: Math.log(0.5) }),
      {
        checkers: [regexChecker(/^\d+$/, { name: 'digits only', feedback: 'reply with digits only' })],
      },
    );
    const r = await loop.run('2+3?');
    expect(skill.prompts[1]).toContain('External Checks:\n- digits only: FAIL — reply with digits only');
    expect(skill.prompts[1]).toContain('5. Fix every failed external check above');
    expect(r.iterations[0]?.confidence).toBeLessThanOrEqual(0.5);
    expect(r.iterations[1]?.checks).toEqual([{ checker: 'digits only', pass: true, feedback: 'ok' }]);
    expect(r.stopReason).toBe('confident'); // 0.7 + 0.3 × 0.5 = 0.85
    expect(r.text).toBe('5');
    expect(r.autoCorrected).toBe(true);
  });

  it('keeps the best answer when reflection makes it worse (right → wrong)', async () => {
    const { loop } = await setup(
      (_p, n) => ({ text: n === 1 ? '5' : n === 2 ? 'five' : 'five!', meanLogprob: Math.log(0.01) }),
      {
        checkers: [regexChecker(/^\d+$/)],
        confidenceThreshold: 0.99,
      },
    );
    const r = await loop.run('2+3?');
    expect(r.iterations).toHaveLength(3);
    expect(r.text).toBe('5');
    expect(r.autoCorrected).toBe(false);
  });

  it('a draft skill that rejects the request is a clear error, not a fallback', async () => {
    const local = localModel();
    const { loop, pool } = await setup(
      () => ({ error: { code: status.INVALID_ARGUMENT, message: 'invalid grammar: x' } }),
      {
        fallback: { draft: local },
      },
    );
    await expect(loop.run('q')).rejects.toMatchObject({
      code: 'LOOP_SKILL_REJECTED',
      message: expect.stringMatching(/invalid grammar/),
    });
    expect(local.calls).toHaveLength(0);
    expect(pool.get('draft').breakerState).toBe('closed');
  });

  it('rejects bad options and empty prompts', async () => {
    const { loop, pool, signer } = await setup(() => ({ text: 'x' }));
    await expect(loop.run('  ')).rejects.toBeInstanceOf(LoopError);
    expect(() => new OmniLoop({ pool, signer, maxIterations: 4 })).toThrow(/maxIterations must be 1, 2 or 3/);
  });
});

describe('fallback and circuit breaker', () => {
  it('a slow skill past its deadline falls back to the local model', async () => {
    const local = localModel('from local');
    const { loop } = await setup(() => ({ text: 'too late', delayMs: 2_000 }), {
      draftDeadlineMs: 100,
      maxIterations: 1,
      fallback: { draft: local },
    });
    const r = await loop.run('q');
    expect(r.fallbackUsed).toBe(true);
    expect(r.iterations[0]).toMatchObject({ source: 'fallback', response: 'from local' });
  });

  it('without a fallback, a dead skill is a clear error that says how to configure one', async () => {
    const pool = new SkillPool({ addresses: { draft: '127.0.0.1:1' } });
    cleanup.push(() => pool.close());
    const loop = new OmniLoop({ pool, signer: recordingSigner([]), maxIterations: 1 });
    await expect(loop.run('q')).rejects.toMatchObject({
      code: 'LOOP_SKILL_UNAVAILABLE',
      message: expect.stringMatching(/SARAI_FALLBACK_MODEL/),
    });
  });

  it('opens the breaker on a dead skill, fails fast while open, and closes when the skill is back', async () => {
    let up: FakeSkill | undefined = await startFakeSkill({
      draft: () => ({ text: 'from skill', meanLogprob: Math.log(0.9) }),
    });
    const port = up.port;
    const pool = new SkillPool({
      addresses: { draft: up.address },
      breaker: { resetTimeoutMs: 60_000, volumeThreshold: 2 },
    });
    const local = localModel('from local');
    const loop = new OmniLoop({
      pool,
      signer: recordingSigner([]),
      maxIterations: 1,
      fallback: { draft: local },
    });
    cleanup.push(
      () => pool.close(),
      () => up?.stop(),
    );
    const handle = pool.get('draft');

    expect((await loop.run('q')).iterations[0]?.source).toBe('skill');
    await up.stop();
    up = undefined;
    for (let i = 0; i < 2; i++) expect((await loop.run('q')).iterations[0]?.source).toBe('fallback');
    expect(handle.breakerState).toBe('open');
    // while open, calls never reach the network: the error is the breaker's own
    await expect(
      handle.call(
        (s, o) =>
          s.generate(
            {
              prompt: 'x',
              maxTokens: 1,
              stop: [],
              temperature: 0,
              grammar: '',
              adapter: '',
              logprobs: false,
            },
            o,
          ).response,
        1_000,
      ),
    ).rejects.toMatchObject({
      code: 'LOOP_SKILL_UNAVAILABLE',
      message: expect.stringMatching(/circuit breaker open/),
    });
    const r = await loop.run('q');
    expect(r).toMatchObject({ fallbackUsed: true, text: 'from local' });
    expect(local.calls).toHaveLength(3);

    // the skill comes back on the same address: health Watch sees SERVING and closes the breaker
    up = await startFakeSkill({
      port,
      draft: () => ({ text: 'from skill again', meanLogprob: Math.log(0.9) }),
    });
    await expect.poll(() => handle.breakerState, { timeout: 15_000, interval: 100 }).toBe('closed');
    const back = await loop.run('q');
    expect(back.iterations[0]).toMatchObject({ source: 'skill', response: 'from skill again' });
    expect(back.fallbackUsed).toBe(false);
  });

  it('an image goes through skill-image; a text-only draft gets one descriptive line; a dead image skill falls back in-process', async () => {
    const { loop, skill } = await setup(() => ({ text: 'a cat', meanLogprob: Math.log(0.9) }));
    const r = await loop.run('What is this?', { image: new Uint8Array([1, 2, 3]) });
    expect(r.image).toMatchObject({
      source: 'skill',
      path: 'ab/abcdef.webp',
      perceptualHash: 'abcdef0123456789',
    });
    expect(skill.prompts[0]).toBe(
      '[Image attached: 64x48 webp, perceptual hash abcdef0123456789, cached at ab/abcdef.webp]\nWhat is this?',
    );

    const pool = new SkillPool({ addresses: { draft: skill.address, image: '127.0.0.1:1' } });
    cleanup.push(() => pool.close());
    const local = {
      async preprocess() {
        return {
          path: 'cd/local.webp',
          perceptualHash: '00ff',
          width: 2,
          height: 2,
          format: 'webp',
          cache: 'miss',
        };
      },
    };
    const loop2 = new OmniLoop({
      pool,
      signer: recordingSigner([]),
      maxIterations: 1,
      fallback: { image: local },
    });
    const r2 = await loop2.run('What is this?', { image: new Uint8Array([1]) });
    expect(r2.image?.source).toBe('fallback');
    expect(r2.fallbackUsed).toBe(true);
    expect(r2.iterations[0]?.source).toBe('skill');
  });
});

describe('OmniLoop per-run options (serving many requests with one loop)', () => {
  it('per-run generation options reach the skill, iteration bounds apply, and onIteration reports each iteration', async () => {
    const { loop, skill } = await setup((_p, n) => ({ text: `answer ${n}`, meanLogprob: Math.log(0.3) }));
    const seen: number[] = [];
    const r = await loop.run('q', {
      maxIterations: 2,
      confidenceThreshold: 1,
      maxTokens: 17,
      temperature: 0.25,
      stop: ['END'],
      seed: 42,
      adapter: 'lora_a',
      onIteration: (it) => seen.push(it.iteration),
    });
    expect(r.iterations).toHaveLength(2);
    expect(seen).toEqual([1, 2]);
    expect(skill.requests[0]).toMatchObject({
      maxTokens: 17,
      temperature: 0.25,
      stop: ['END'],
      seed: 42,
      adapter: 'lora_a',
    });
    await expect(loop.run('q', { maxIterations: 4 })).rejects.toMatchObject({ code: 'LOOP_BAD_OPTION' });
    await expect(loop.run('q', { confidenceThreshold: 2 })).rejects.toMatchObject({
      code: 'LOOP_BAD_OPTION',
    });
  });

  it('an abort cancels the in-flight draft call on the skill, skips the fallback and leaves the breaker closed', async () => {
    const local = localModel();
    const { loop, skill, pool } = await setup(() => ({ text: 'slow', delayMs: 20_000 }), {
      fallback: { draft: local },
    });
    const ac = new AbortController();
    const run = loop.run('q', { signal: ac.signal });
    while (skill.prompts.length === 0) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await expect(run).rejects.toMatchObject({ code: 'LOOP_CANCELLED' });
    while (skill.cancelled === 0) await new Promise((r) => setTimeout(r, 10));
    expect(local.calls).toEqual([]);
    expect(pool.get('draft').breakerState).toBe('closed');
    await expect(loop.run('q', { signal: ac.signal })).rejects.toMatchObject({ code: 'LOOP_CANCELLED' });
  });
});
