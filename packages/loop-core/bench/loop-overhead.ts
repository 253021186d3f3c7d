// Loop benchmarks (not a test): figures are ratios against baselines measured in the same run.
//  1. loop overhead per iteration, excluding generation: a loop over an instant fake draft skill, with real
//     OpenPGP signing and audit appends, vs the bare gRPC Generate call it makes (baseline);
//  2. time to answer via the fallback once the draft skill is dead and its breaker open, vs calling the same
//     (instant) fallback model directly (baseline): the added time is the loop's cost of a dead skill.
import { runBench } from '@sarai/formats';
import { PromptSigner, generateSigningKeyPair } from '@sarai/signer';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OmniLoop, SkillPool, createReflectionSigner, type LocalDraftModel } from '../src/index.js';
import { startFakeSkill } from '../src/test-support/fake-skills.js';

const N = Number(process.env['BENCH_LOOPS'] ?? 200);

function pct(v: number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const f = (n: number) => n.toFixed(n < 10 ? 3 : 1);

const PKG = join(import.meta.dirname, '..', '..', '..'); // packages/loop-core (from out-tsc/bench/bench)

void runBench({ packageDir: PKG }, async (ctx) => {
  const out: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'sarai-loop-bench-'));
  ctx.onCleanup(() => rm(dir, { recursive: true, force: true }));
  const skill = await startFakeSkill({
    draft: (_p, n) => ({ text: `answer ${n}`, meanLogprob: Math.log(0.2) }),
  });
  ctx.onCleanup(() => skill.stop());
  const pool = new SkillPool({ addresses: { draft: skill.address } });
  ctx.onCleanup(() => pool.close());
  const pair = await generateSigningKeyPair({ name: 'bench', email: 'bench@localhost' });
  const signer = await PromptSigner.fromKey(pair.privateKeyArmored);
  const instant: LocalDraftModel = { generate: async () => ({ text: 'local answer' }) };

  // -- 1. overhead per iteration ------------------------------------------------------------------------
  const loop = new OmniLoop({
    pool,
    signer: createReflectionSigner(signer, join(dir, 'audit.jsonl')),
    interactionLog: join(dir, 'interactions.jsonl'),
    stopOnUnchanged: false,
    confidenceThreshold: 1,
  });
  const unsigned = new OmniLoop({
    pool,
    signer: { signAndRecord: async () => ({ signature: '', fingerprint: '' }) },
    stopOnUnchanged: false,
    confidenceThreshold: 1,
  });
  const bare: number[] = [];
  const overhead: number[] = [];
  const overheadUnsigned: number[] = [];
  const req = {
    prompt: 'x',
    maxTokens: 8,
    stop: [],
    temperature: 0,
    grammar: '',
    adapter: '',
    logprobs: true,
  };
  for (let i = 0; i < 20; i++) await loop.run('warm up'); // JIT, channel, key
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await pool.get('draft').conn.skill.generate(req).response;
    bare.push(performance.now() - t);
    const r = await loop.run(`question ${i}`);
    for (const it of r.iterations) overhead.push(it.latencyMs - it.generationMs);
    const u = await unsigned.run(`question ${i}`);
    for (const it of u.iterations) overheadUnsigned.push(it.latencyMs - it.generationMs);
  }

  // -- 2. dead skill, breaker open -----------------------------------------------------------------------
  const deadPool = new SkillPool({
    addresses: { draft: '127.0.0.1:1' },
    breaker: { resetTimeoutMs: 3_600_000 },
  });
  const deadLoop = new OmniLoop({
    pool: deadPool,
    signer: { signAndRecord: async () => ({ signature: '', fingerprint: '' }) },
    maxIterations: 1,
    fallback: { draft: instant },
  });
  for (let i = 0; i < 5; i++) await deadLoop.run('open the breaker');
  if (deadPool.get('draft').breakerState !== 'open') throw new Error('breaker did not open');
  const direct: number[] = [];
  const viaLoop: number[] = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    await instant.generate('q', { maxTokens: 8, temperature: 0, stop: [] });
    direct.push(performance.now() - t);
    t = performance.now();
    await deadLoop.run('q');
    viaLoop.push(performance.now() - t);
  }

  const rows: Array<[string, number, number, string]> = [
    ['bare gRPC Generate to an instant skill (baseline 1)', pct(bare, 50), pct(bare, 99), '1.000'],
    [
      'loop overhead / iteration (signing + audit + log)',
      pct(overhead, 50),
      pct(overhead, 99),
      f(pct(overhead, 50) / pct(bare, 50)),
    ],
    [
      'loop overhead / iteration (no signing)',
      pct(overheadUnsigned, 50),
      pct(overheadUnsigned, 99),
      f(pct(overheadUnsigned, 50) / pct(bare, 50)),
    ],
    ['instant fallback model called directly (baseline 2)', pct(direct, 50), pct(direct, 99), '1.000'],
    [
      'loop answer via fallback, skill dead, breaker open',
      pct(viaLoop, 50),
      pct(viaLoop, 99),
      f(pct(viaLoop, 50) / Math.max(pct(direct, 50), 1e-3)),
    ],
  ];
  out.push(`\nOmni-Loop benchmark, ${N} loops (p50/p99 in ms; ratio = p50 ÷ the baseline above it)\n`);
  out.push(`${'measurement'.padEnd(54)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'ratio'.padStart(8)}`);
  for (const [name, p50, p99, ratio] of rows)
    out.push(`${name.padEnd(54)} ${f(p50).padStart(8)} ${f(p99).padStart(8)} ${ratio.padStart(8)}`);
  out.push(
    `\ngoals: overhead p50 ≤ 5 ms → ${pct(overhead, 50) <= 5 ? 'met' : 'NOT met'} (${f(pct(overhead, 50))} ms); ` +
      `added by a dead skill once the breaker is open ≤ 50 ms → ${pct(viaLoop, 50) - pct(direct, 50) <= 50 ? 'met' : 'NOT met'} (${f(pct(viaLoop, 50) - pct(direct, 50))} ms)`,
  );

  pool.close();
  deadPool.close();
  for (const [name, p50, p99, ratio] of rows)
    ctx.results[name] = { p50Ms: p50, p99Ms: p99, ratio: Number(ratio) };
  Object.assign(ctx.results, { loops: N, load: ctx.loadavg() });
  return { text: out.join('\n') };
});
