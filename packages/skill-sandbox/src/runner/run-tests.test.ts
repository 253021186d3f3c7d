import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError } from '../errors.js';
import { probeNetIsolation } from './netns.js';
import { runTests } from './run-tests.js';
import type { SandboxRequest, SandboxResult } from './types.js';
import { ATTACKS, HONEST, type Attack } from '../test-support/attacks.js';

let workRoot: string;
beforeAll(async () => {
  workRoot = await mkdtemp(join(tmpdir(), 'sbx-runner-test-'));
});
afterAll(async () => {
  await rm(workRoot, { recursive: true, force: true });
});

const run = (req: Partial<SandboxRequest> & { code: string }): Promise<SandboxResult> =>
  runTests(
    {
      language: 'javascript',
      functionName: 'add',
      tests: [
        { args: [1, 2], expected: 3 },
        { args: [2, 2], expected: 4 },
      ],
      ...req,
    },
    { workRoot },
  );

describe('runner: honest code', () => {
  it('passes, fails with got, and reports wall/cpu/memory', async () => {
    const ok = await run({ code: 'function add(a, b) { return a + b; }' });
    expect(ok.stop).toBe('ok');
    expect(ok.tests).toEqual([
      { passed: true, got: '3', error: '' },
      { passed: true, got: '4', error: '' },
    ]);
    expect(ok.cpuMs).toBeGreaterThan(0);
    expect(ok.peakMemoryBytes).toBeGreaterThan(1024 * 1024);
    const wrong = await run({ code: 'const add = (a, b) => a * b;' });
    expect(wrong.tests.map((t) => [t.passed, t.got])).toEqual([
      [false, '2'],
      [true, '4'],
    ]);
  });

  it('compares JSON deeply (key order free), supports async functions, captures console output', async () => {
    const r = await runTests(
      {
        language: 'javascript',
        functionName: 'pair',
        code: 'async function pair(a) { console.log("in", a); console.error("warn"); return { b: a, a: [a] }; }',
        tests: [{ args: [1], expected: { a: [1], b: 1 } }],
      },
      { workRoot },
    );
    expect(r.tests[0]).toEqual({ passed: true, got: '{"b":1,"a":[1]}', error: '' });
    expect(r.stdout).toBe('in 1\n');
    expect(r.stderr).toBe('warn\n');
  });

  it('reports code that does not compile, throws, or lacks the function as failures with reasons', async () => {
    expect((await run({ code: 'const x = ;' })).error).toMatch(/does not compile: SyntaxError/);
    expect((await run({ code: 'function sub() {}' })).error).toMatch(/does not define a function named add/);
    const thrown = await run({ code: 'function add() { throw new RangeError("nope"); }' });
    expect(thrown.tests[0]).toEqual({ passed: false, got: '', error: 'RangeError: nope' });
    expect(thrown.stop).toBe('ok');
  });

  it('runs TypeScript when the child Node can strip types, and says so otherwise', async () => {
    const r = await run({
      language: 'typescript',
      code: 'function add(a: number, b: number): number { return a + b; }',
    });
    if (Number(process.versions.node.split('.')[0]) >= 23) expect(r.tests[0]?.passed).toBe(true);
    else expect(r.error).toMatch(/typescript needs Node >= 22.13|does not compile/);
  });

  it('rejects requests it cannot run with SANDBOX_BAD_REQUEST saying what to fix', async () => {
    await expect(run({ code: 'x', functionName: 'not a name' })).rejects.toThrow(SandboxError);
    await expect(run({ code: 'x', tests: [] })).rejects.toThrow(/at least one test/);
    await expect(run({ code: 'x', language: 'python' as never })).rejects.toThrow(/language must be/);
  });

  it('removes every working directory', async () => {
    await run({ code: 'function add(a, b) { return a + b; }' });
    expect(readdirSync(workRoot)).toEqual([]);
  });
});

describe('runner: limits', () => {
  it('an endless loop times out per test, a hard one hits the wall limit', async () => {
    const soft = await run({ code: 'function add() { for (;;) {} }', limits: { testTimeoutMs: 100 } });
    expect(soft.tests[0]?.error).toMatch(/timed out after 100 ms/);
    const hard = await run({
      code: 'function add() { return new Promise(() => { for (;;) {} }); }',
      limits: { wallMs: 800, testTimeoutMs: 5_000 },
    });
    expect(hard.stop).toBe('timeout');
    expect(hard.tests[0]?.passed).toBe(false);
  });

  it('a CPU budget stops a busy child that no test timeout can reach', async () => {
    const r = await run({
      code: 'function add() { return Promise.resolve().then(() => { for (;;) {} }); }',
      limits: { wallMs: 30_000, cpuMs: 300 },
    });
    expect(r.stop).toBe('timeout');
    expect(r.cpuMs).toBeGreaterThanOrEqual(300);
    expect(r.error).toMatch(/over the time limit/);
  });

  it('memory and output over their limits stop the run with the right reason', async () => {
    const heap = await run({
      code: 'function add() { const a = []; for (;;) a.push(new Array(1e5).fill(7)); }',
    });
    expect(heap.stop).toBe('memory');
    const offHeap = await run({
      code: 'function add() { const a = []; for (;;) a.push(new Uint8Array(8 << 20).fill(1)); }',
    });
    expect(offHeap.stop).toBe('memory');
    const out = await run({ code: 'function add() { for (;;) console.log("x".repeat(1000)); }' });
    expect(out.stop).toBe('output-limit');
    expect(out.stdoutTruncated).toBe(true);
    expect(out.stdout.length).toBe(64 * 1024);
    const exact = await run({
      code: 'function add(a, b) { console.log("y".repeat(99)); return a + b; }',
      limits: { outputBytes: 200 },
    });
    expect(exact).toMatchObject({
      stop: 'ok',
      stdoutTruncated: false,
      stdout: `${'y'.repeat(99)}\n`.repeat(2),
    });
  });
});

describe('runner: attacks on the host', () => {
  const marker = join(tmpdir(), `sarai-sandbox-pwned-${process.pid}`);
  process.env['SARAI_SIGNING_PASSPHRASE'] = 'host-secret-passphrase';

  it.each(ATTACKS.map((a) => [a.name, a] as [string, Attack]))('%s fails as a normal test', async (_n, a) => {
    const r = await runTests(a.request(marker), { workRoot });
    expect(r.tests.some((t) => t.passed)).toBe(false);
    const seen = JSON.stringify(r);
    expect(seen).not.toContain('host-secret-passphrase');
    expect(existsSync(marker)).toBe(false);
    if (a.stop) expect(r.stop).toBe(a.stop);
  });

  it('the exact payload of the issue: no passphrase, no file, a normal test failure', async () => {
    const payload = [
      'function add(a, b) {',
      "  const p = this.constructor.constructor('return process')();",
      "  p.getBuiltinModule('fs').writeFileSync(" + JSON.stringify(marker) + ", 'pwned');",
      '  return p.env.SARAI_SIGNING_PASSPHRASE;',
      '}',
    ].join('\n');
    const r = await run({ code: payload });
    expect(r.stop).toBe('ok');
    expect(r.tests.every((t) => !t.passed && t.error !== '')).toBe(true);
    expect(JSON.stringify(r)).not.toContain('host-secret-passphrase');
    expect(existsSync(marker)).toBe(false);
  });

  it('an honest request running next to every attack is unaffected', async () => {
    const [honest] = await Promise.all([
      runTests(HONEST, { workRoot }),
      ...ATTACKS.slice(0, 6).map((a) => runTests(a.request(marker), { workRoot })),
    ]);
    expect(honest.stop).toBe('ok');
    expect(honest.tests.every((t) => t.passed)).toBe(true);
  });
});

describe('runner: a network namespace per child (embedded mode, where user namespaces work)', () => {
  it('says why there is none without unshare', async () => {
    expect(await probeNetIsolation(process.execPath, '/nonexistent')).toEqual({
      reason: 'util-linux unshare is not installed',
    });
  });

  it('the probe proves a child cannot reach 127.0.0.1; tests and limits still work inside', async () => {
    const iso = await probeNetIsolation(process.execPath);
    if (!('unshare' in iso)) {
      // kernels without unprivileged user namespaces: embedded mode says so and runs without this layer
      expect(iso.reason).not.toBe('');
      return;
    }
    const ok = await runTests(HONEST, { workRoot, netns: iso });
    expect(ok.stop).toBe('ok');
    expect(ok.tests.every((t) => t.passed)).toBe(true);
    const bomb = await runTests(
      { ...HONEST, code: 'function add() { for (;;) console.log("z".repeat(999)); }' },
      { workRoot, netns: iso },
    );
    expect(bomb.stop).toBe('output-limit');
  });
});
