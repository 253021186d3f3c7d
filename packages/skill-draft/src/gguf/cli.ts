#!/usr/bin/env node
// Writes seeded random-weight GGUF models (and LoRA adapters) under <repo>/models (gitignored):
//   node dist/gguf/cli.js --all                          tiny Q8_0 (tests) + Qwen2.5-0.5B-dimension Q4_0 and Q8_0 (bench)
//   node dist/gguf/cli.js --preset tiny --type Q4_0 --seed 3 [--out DIR] [--force]
//   node dist/gguf/cli.js --lora --preset tiny --rank 8 --alpha 16 --targets attn_q,ffn_up --seed 1 --file x.gguf
// Env: SARAI_MODELS_DIR overrides the output directory.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  MODEL_PRESETS,
  ensureModel,
  generateLoraAdapter,
  modelFileName,
  type LoraTarget,
  type ModelPreset,
  type ModelWeightType,
} from './models.js';

const DEFAULT_DIR =
  process.env['SARAI_MODELS_DIR'] || fileURLToPath(new URL('../../../../models/', import.meta.url));
const TYPES: readonly ModelWeightType[] = ['F32', 'F16', 'Q8_0', 'Q4_0'];

const { values } = parseArgs({
  options: {
    all: { type: 'boolean', default: false },
    preset: { type: 'string', default: 'tiny' },
    type: { type: 'string', default: 'Q8_0' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: DEFAULT_DIR },
    force: { type: 'boolean', default: false },
    lora: { type: 'boolean', default: false },
    rank: { type: 'string', default: '8' },
    alpha: { type: 'string', default: '16' },
    targets: { type: 'string', default: 'attn_q,attn_output,ffn_up,ffn_down' },
    file: { type: 'string' },
  },
});

const fail = (m: string): never => {
  process.stderr.write(`gguf: ${m}\n`);
  process.exit(2);
};
const preset = values.preset as ModelPreset;
if (!(preset in MODEL_PRESETS)) fail(`--preset must be one of ${Object.keys(MODEL_PRESETS).join(', ')}`);
const type = values.type.toUpperCase() as ModelWeightType;
if (!TYPES.includes(type)) fail(`--type must be one of ${TYPES.join(', ')}`);
const seed = Number(values.seed);
if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
  fail('--seed must be a 32-bit unsigned integer');
const out = resolve(values.out);

const started = performance.now();
const report = (path: string, bytes: number, generated: boolean) =>
  process.stdout.write(
    `${JSON.stringify({ path, bytes, mib: Number((bytes / 2 ** 20).toFixed(1)), generated, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) })}\n`,
  );

if (values.lora) {
  const path = join(out, values.file ?? `sarai-${preset}-lora-r${values.rank}-s${seed}.gguf`);
  const r = await generateLoraAdapter({
    preset,
    targets: values.targets.split(',').map((t) => t.trim()) as LoraTarget[],
    rank: Number(values.rank),
    alpha: Number(values.alpha),
    seed,
    path,
  });
  report(r.path, r.bytes, true);
} else {
  const jobs: Array<{ preset: ModelPreset; type: ModelWeightType; seed: number }> = values.all
    ? [
        { preset: 'tiny', type: 'Q8_0', seed: 1 },
        { preset: 'qwen2.5-0.5b', type: 'Q4_0', seed: 1 },
        { preset: 'qwen2.5-0.5b', type: 'Q8_0', seed: 1 },
      ]
    : [{ preset, type, seed }];
  for (const job of jobs) {
    if (values.force) await rm(join(out, modelFileName(job.preset, job.type, job.seed)), { force: true });
    const r = await ensureModel(out, job);
    report(r.path, r.bytes, r.generated);
  }
}
if (!existsSync(out)) fail(`nothing written to ${out}`);
