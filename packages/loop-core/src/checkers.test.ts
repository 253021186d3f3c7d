import { describe, expect, it } from 'vitest';
import { extractJson, functionChecker, jsonSchemaChecker, regexChecker, runCheckers } from './checkers.js';
import { scoreConfidence } from './confidence.js';

const ctx = { prompt: 'p' };

describe('checkers', () => {
  it('json schema: valid, invalid with reasons, not JSON', async () => {
    const c = jsonSchemaChecker({
      type: 'object',
      required: ['name', 'age'],
      properties: { age: { type: 'integer' } },
    });
    expect(await c.check('Here: ```json\n{"name":"a","age":3}\n```', ctx)).toEqual({
      pass: true,
      feedback: 'ok',
    });
    const bad = await c.check('{"name":"a","age":"x"}', ctx);
    expect(bad.pass).toBe(false);
    expect(bad.feedback).toMatch(/\/age must be integer/);
    expect((await c.check('no json here', ctx)).feedback).toMatch(/not valid JSON/);
    expect(extractJson('x [1,2] y')).toBe('[1,2]');
  });

  it('regex and function checkers', async () => {
    expect((await regexChecker(/forbidden/, { mustMatch: false }).check('all fine', ctx)).pass).toBe(true);
    expect(
      (
        await functionChecker('short', (a) => a.length < 5 || 'too long: keep it under 5 characters').check(
          'abcdefg',
          ctx,
        )
      ).feedback,
    ).toBe('too long: keep it under 5 characters');
  });

  it('a throwing checker fails with its error instead of breaking the loop', async () => {
    const r = await runCheckers(
      [
        functionChecker('boom', () => {
          throw new Error('kaput');
        }),
      ],
      'a',
      ctx,
    );
    expect(r).toEqual([{ checker: 'boom', pass: false, feedback: 'checker failed: kaput' }]);
  });
});

describe('confidence', () => {
  it('is the geometric-mean token probability without checkers, 0.5 when unknown', () => {
    expect(scoreConfidence(Math.log(0.9), [])).toBeCloseTo(0.9);
    expect(scoreConfidence(undefined, [])).toBe(0.5);
  });
  it('weights checkers 0.7 and caps at 0.5 when any fails', () => {
    const pass = { checker: 'a', pass: true, feedback: 'ok' };
    const fail = { checker: 'b', pass: false, feedback: 'no' };
    expect(scoreConfidence(Math.log(0.5), [pass])).toBeCloseTo(0.85);
    expect(scoreConfidence(Math.log(1), [pass, fail])).toBe(0.5);
    expect(scoreConfidence(Math.log(0.1), [pass, fail])).toBeCloseTo(0.38);
  });
});
