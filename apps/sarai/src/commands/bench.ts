import { SingleBar, Presets } from 'cli-progress';
import { int, parse } from '../args.js';
import type { Io } from '../io.js';
import { openSession } from '../session.js';
import { percentile, table } from '../stats.js';
import { processTreeRssMb } from '../rss.js';

const PROMPTS = [
  'Explain in two sentences what a circuit breaker does in a distributed system.',
  'List three uses of perceptual hashing.',
  'What does a LoRA adapter change in a language model?',
  'Summarise why prompts are signed before reflection.',
];

/** `sarai bench omni-loop`: loop and per-iteration latency percentiles and RAM P99 (host + skills). */
export async function benchOmniLoop(args: string[], io: Io): Promise<number> {
  const { values } = parse(
    args,
    {
      iterations: { type: 'string' },
      embedded: { type: 'boolean' },
      json: { type: 'boolean' },
      'max-tokens': { type: 'string' },
    },
    0,
  );
  const runs = int(values.iterations, 'iterations', 1, 10_000) ?? 20;
  const maxTokens = int(values['max-tokens'], 'max-tokens', 1, 4096) ?? 64;
  const session = await openSession(io, {
    embedded: Boolean(values.embedded),
    maxTokens,
    threshold: 1,
    say: (t) => io.stderr(t),
  });
  const loops: number[] = [];
  const perIteration: number[][] = [[], [], []];
  const overhead: number[] = [];
  const ram: number[] = [];
  let fallbacks = 0;
  const bar =
    io.isTTY && !values.json
      ? new SingleBar({ format: 'bench {bar} {value}/{total} loops' }, Presets.shades_classic)
      : undefined;
  try {
    bar?.start(runs, 0);
    for (let i = 0; i < runs; i++) {
      const r = await session.loop.run(PROMPTS[i % PROMPTS.length] as string);
      loops.push(r.totalLatencyMs);
      fallbacks += Number(r.fallbackUsed);
      for (const it of r.iterations) {
        perIteration[it.iteration - 1]?.push(it.latencyMs);
        overhead.push(it.latencyMs - it.generationMs);
      }
      ram.push(await processTreeRssMb([process.pid, ...session.deployment.skillPids()]));
      bar?.increment();
    }
  } finally {
    bar?.stop();
    await session.close();
  }
  const rows: Array<Array<string | number>> = [
    ['loop', loops.length, percentile(loops, 50), percentile(loops, 99)],
    ...perIteration.map((v, i) => [`iteration ${i + 1}`, v.length, percentile(v, 50), percentile(v, 99)]),
    ['loop overhead / iteration', overhead.length, percentile(overhead, 50), percentile(overhead, 99)],
  ];
  const ramP99 = percentile(ram, 99);
  const result = {
    runs,
    fallbacks,
    latencyMs: Object.fromEntries(rows.map((r) => [r[0], { n: r[1], p50: r[2], p99: r[3] }])),
    ramP99Mb: ramP99,
    targets: { loopP50Ms: 7_900, ramP99Mb: 9.9 * 1024 },
  };
  if (values.json) {
    io.stdout(JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  io.stdout(table(['latency (ms)', 'n', 'p50', 'p99'], rows));
  io.stdout(
    `\nRAM P99 host + skills: ${ramP99.toFixed(0)} MiB (seed target ≤ ${(9.9 * 1024).toFixed(0)} MiB: ${ramP99 <= 9.9 * 1024 ? 'met' : 'NOT met'})\n` +
      `loop P50 ${percentile(loops, 50).toFixed(0)} ms (seed target ≤ 7900 ms: ${percentile(loops, 50) <= 7_900 ? 'met' : 'NOT met'})` +
      `, ratio to target ${(percentile(loops, 50) / 7_900).toFixed(3)}\n` +
      (fallbacks ? `${fallbacks} loop(s) used the local fallback\n` : ''),
  );
  return 0;
}
