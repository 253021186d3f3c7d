import { Language, StopReason, type RunTestsRequest } from '@sarai/sandbox-contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeTestsChecker } from './checkers.js';
import { poolSandbox } from './code-sandbox.js';
import { reflectionPrompt } from './prompts.js';
import { SkillPool } from './skill-pool.js';
import { startFakeSandbox, type FakeSandbox } from './test-support/fake-sandbox.js';

const ctx = { prompt: 'p' };
const tests = [
  { args: [1, 2], expected: 3 },
  { args: [2, 2], expected: 4 },
];

/** What the real sandbox would answer for `a + b` vs `a * b` (the fake only scripts the transport). */
function scripted(req: RunTestsRequest) {
  if (req.code.includes('while')) {
    return {
      response: {
        results: req.tests.map(() => ({ passed: false, gotJson: '', error: 'timed out after 100 ms' })),
        stopReason: StopReason.OK,
      },
    };
  }
  if (req.code.includes('= ;'))
    return {
      response: {
        results: req.tests.map(() => ({
          passed: false,
          gotJson: '',
          error: 'the code does not compile: SyntaxError',
        })),
        stopReason: StopReason.OK,
        error: 'the code does not compile: SyntaxError',
      },
    };
  if (req.code.includes('slow')) return { delayMs: 5_000 };
  if (req.code.includes('huge')) return { invalid: 'code is larger than 262144 bytes' };
  const mul = req.code.includes('*');
  return {
    response: {
      results: req.tests.map((t) => {
        const [a, b] = JSON.parse(t.argsJson) as [number, number];
        const got = String(mul ? a * b : a + b);
        return { passed: got === t.expectedJson, gotJson: got, error: '' };
      }),
      stopReason: StopReason.OK,
    },
  };
}

describe('codeTestsChecker through the sandbox skill (pool, registry role code-tests)', () => {
  let sandbox: FakeSandbox;
  let pool: SkillPool;
  beforeAll(async () => {
    sandbox = await startFakeSandbox(scripted);
    pool = new SkillPool({ addresses: { sandbox: sandbox.address }, env: {}, watchHealth: false });
  });
  afterAll(async () => {
    pool.close();
    await sandbox.stop();
  });

  it('sends the code, tests and limits, and turns results into feedback', async () => {
    const c = codeTestsChecker({ functionName: 'add', tests, sandbox: poolSandbox(pool), timeoutMs: 100 });
    expect(await c.check('```js\nfunction add(a, b) { return a + b; }\n```', ctx)).toEqual({
      pass: true,
      feedback: 'all 2 tests pass',
    });
    const req = sandbox.requests.at(-1);
    expect(req).toMatchObject({
      code: 'function add(a, b) { return a + b; }',
      language: Language.JAVASCRIPT,
      functionName: 'add',
      tests: [
        { argsJson: '[1,2]', expectedJson: '3' },
        { argsJson: '[2,2]', expectedJson: '4' },
      ],
      limits: { testTimeoutMs: 100, wallMs: 1_300 },
    });
    expect(await c.check('function add(a, b) { return a * b; }', ctx)).toEqual({
      pass: false,
      feedback: '1/2 tests fail: add(1, 2) returned 2, expected 3',
    });
    expect((await c.check('function add() { while (true) {} }', ctx)).feedback).toMatch(
      /add\(1, 2\) threw timed out after 100 ms/,
    );
    expect((await c.check('const x = ;', ctx)).feedback).toBe('the code does not compile: SyntaxError');
    const rejected = await c.check('huge', ctx);
    expect(rejected).toMatchObject({
      pass: false,
      feedback: expect.stringMatching(/cannot run this answer/),
    });
    expect(rejected.unavailable).toBeUndefined();
  });

  it('a slow sandbox makes the check unavailable — not a pass — and the reflection prompt says so', async () => {
    const c = codeTestsChecker({ functionName: 'add', tests, sandbox: poolSandbox(pool), timeoutMs: 100 });
    const r = await c.check('slow', ctx);
    expect(r).toMatchObject({ pass: false, unavailable: true });
    expect(r.feedback).toMatch(/^unavailable: the code sandbox did not run the tests .*this is not a pass$/);
    const prompt = reflectionPrompt({
      iteration: 2,
      maxIterations: 3,
      originalPrompt: 'p',
      draftResponse: 'slow',
      checks: [{ checker: 'tests of add', ...r }],
    });
    expect(prompt).toMatch(/- tests of add: UNAVAILABLE \(not run\) — unavailable: the code sandbox/);
  });

  it('a sandbox that is down makes the check unavailable', async () => {
    const down = await startFakeSandbox(scripted);
    const address = down.address;
    await down.stop();
    const p = new SkillPool({ addresses: { sandbox: address }, env: {}, watchHealth: false });
    try {
      const c = codeTestsChecker({ functionName: 'add', tests, sandbox: poolSandbox(p) });
      const r = await c.check('function add(a, b) { return a + b; }', ctx);
      expect(r).toMatchObject({ pass: false, unavailable: true });
    } finally {
      p.close();
    }
  });
});
