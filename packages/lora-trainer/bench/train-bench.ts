// Benchmark (not a test): LoRA training throughput and peak RSS on a frozen GGUF base, with the baseline measured
// in the same run: forward-only evaluation tokens/s of the same model and context (ratio = train / eval).
// Run: nx run @sarai/lora-trainer:bench
//   BENCH_MODEL   path of the base GGUF (default <repo>/models/sarai-qwen2.5-0.5b-q8_0-s1.gguf; `tiny` for the
//                 tiny test model)
//   BENCH_TRAIN_ROWS (2) BENCH_EVAL_ROWS (2) BENCH_EPOCHS (1) BENCH_THREADS (2) BENCH_RANK (8) BENCH_CONTEXT (256)
import { runBench } from '@sarai/formats';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainLora, type ChatPair, type TrainProgress } from '../src/index.js';

// compiled to out-tsc/bench/bench/: the repository root is five levels up
const MODELS = fileURLToPath(new URL('../../../../../models/', import.meta.url));
const PKG = fileURLToPath(new URL('../../../', import.meta.url)); // packages/lora-trainer
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const modelEnv = process.env['BENCH_MODEL'] ?? join(MODELS, 'sarai-qwen2.5-0.5b-q8_0-s1.gguf');
const modelPath = modelEnv === 'tiny' ? join(MODELS, 'sarai-tiny-q8_0-s1.gguf') : modelEnv;
const context = env('BENCH_CONTEXT', 256);
const trainRows = env('BENCH_TRAIN_ROWS', 2);
const evalRows = env('BENCH_EVAL_ROWS', 2);

/** Pairs whose ChatML rendering fills about `rows` rows (byte-level vocabularies: ~1 token per byte). */
function pairs(rows: number, offset: number): ChatPair[] {
  const out: ChatPair[] = [];
  let bytes = 0;
  for (let i = offset; bytes < rows * context + 1; i++) {
    const p = {
      prompt: `Summarise ticket #${i}: the nightly export failed twice.`,
      answer: `Ticket #${i}: export failed twice overnight; retry succeeded.`,
    };
    out.push(p);
    bytes += p.prompt.length + p.answer.length + 40;
  }
  return out;
}

void runBench({ packageDir: PKG }, async (ctx) => {
  const rssBefore = process.memoryUsage().rss;
  let peakSampled = rssBefore;
  const sampler = setInterval(() => {
    peakSampled = Math.max(peakSampled, process.memoryUsage().rss);
  }, 100);
  const dir = await mkdtemp(join(tmpdir(), 'sarai-lora-bench-'));
  ctx.onCleanup(() => rm(dir, { recursive: true, force: true }));
  const out: string[] = [];
  let last: TrainProgress | undefined;
  try {
    const size = await stat(modelPath).then(
      (s) => s.size,
      () => {
        throw new Error(`${modelPath} is missing: generate it with \`nx run @sarai/skill-draft:models\``);
      },
    );
    const started = performance.now();
    const r = await trainLora({
      baseModelPath: modelPath,
      train: pairs(trainRows, 0),
      eval: pairs(evalRows, 10_000),
      adapterPath: join(dir, 'lora_bench.gguf'),
      rank: env('BENCH_RANK', 8),
      epochs: env('BENCH_EPOCHS', 1),
      contextSize: context,
      threads: env('BENCH_THREADS', 2),
      progressBar: process.stderr.isTTY === true,
      onProgress: (p) => {
        last = p;
      },
    });
    clearInterval(sampler);
    const wall = (performance.now() - started) / 1000;
    const maxRssKiB = process.resourceUsage().maxRSS;
    const mib = (b: number): string => (b / 1024 / 1024).toFixed(0);
    const rows: Array<[string, string]> = [
      ['model', `${basename(modelPath)} (${(size / 1048576).toFixed(1)} MiB, ${r.architecture})`],
      [
        'adapter',
        `rank ${r.hyperParameters.rank}, ${r.hyperParameters.targets.join('/')}, ${r.trainableParameters.toLocaleString('en')} trainable params`,
      ],
      ['threads / context', `${r.hyperParameters.threads} / ${r.tokens.contextSize}`],
      [
        'train rows × epochs',
        `${r.tokens.trainRows} × ${r.hyperParameters.epochs} (${r.tokens.trainRows * r.tokens.contextSize * r.hyperParameters.epochs} tokens)`,
      ],
      ['baseline: eval forward tok/s', r.evalTokensPerSecond.toFixed(1)],
      ['train tok/s (fwd+bwd+AdamW)', r.trainTokensPerSecond.toFixed(1)],
      ['ratio train / eval', (r.trainTokensPerSecond / r.evalTokensPerSecond).toFixed(3)],
      ['eval loss before → after', `${r.losses.evalBefore.toFixed(4)} → ${r.losses.evalAfter.toFixed(4)}`],
      ['peak RSS (getrusage)', `${(maxRssKiB / 1024).toFixed(0)} MiB`],
      ['peak RSS (sampled) / before load', `${mib(peakSampled)} MiB / ${mib(rssBefore)} MiB`],
      [
        'graph budget (fwd nodes, extra adapters)',
        `${r.graph.budget} (${r.graph.forwardNodes}, ${r.graph.budgetAdapters})`,
      ],
      ['wall time', `${wall.toFixed(1)} s`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    out.push(`\n| ${'metric'.padEnd(w)} | value |\n|${'-'.repeat(w + 2)}|-------|`);
    for (const [k, v] of rows) out.push(`| ${k.padEnd(w)} | ${v} |`);
    out.push(`\nload average: ${ctx.loadavg()}`);
    for (const [k, v] of rows) ctx.results[k] = v;
    Object.assign(ctx.results, {
      trainTokensPerSecond: r.trainTokensPerSecond,
      evalTokensPerSecond: r.evalTokensPerSecond,
      ratioTrainToEval: r.trainTokensPerSecond / r.evalTokensPerSecond,
      maxRssMiB: maxRssKiB / 1024,
      wallSeconds: wall,
    });
    void last;
    return { text: out.join('\n') };
  } finally {
    clearInterval(sampler);
  }
});
