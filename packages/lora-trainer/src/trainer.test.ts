import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDataset, parseInteractionLog } from './dataset.js';
import { sha256File } from './files.js';
import { metaNumber, metaString, readGgufHeader, readGgufTensorF32 } from './gguf.js';
import { toyInteractionLog } from './test-support/fixtures.js';
import { TINY_MODEL } from './test-support/models.js';
import { packRows, trainLora, type TrainLoraResult, type TrainProgress } from './trainer.js';

describe('trainLora on the tiny generated model (real llama_opt_* training, frozen quantized base)', () => {
  let dir: string;
  let baseSha: string;
  let result: TrainLoraResult;
  const progress: TrainProgress[] = [];
  const dataset = buildDataset(parseInteractionLog(toyInteractionLog(48)), { evalFraction: 0.15 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-train-'));
    baseSha = await sha256File(TINY_MODEL);
    result = await trainLora({
      baseModelPath: TINY_MODEL,
      train: dataset.train,
      eval: dataset.eval,
      adapterPath: join(dir, 'lora_20261124.gguf'),
      rank: 4,
      epochs: 4,
      learningRate: 2e-3,
      threads: 1,
      progressBar: false,
      onProgress: (p) => progress.push(p),
    });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lowers the held-out loss on a learnable dataset, epoch after epoch', () => {
    expect(dataset.eval.length).toBeGreaterThan(2);
    const { evalBefore, evalAfter, trainPerEpoch } = result.losses;
    expect(evalAfter).toBeLessThan(evalBefore * 0.8);
    expect(trainPerEpoch).toHaveLength(4);
    expect(trainPerEpoch.at(-1)).toBeLessThan(trainPerEpoch[0] as number);
    expect(result.tokens.contextSize).toBe(256);
    expect(result.tokens.trainRows).toBeGreaterThan(1);
    expect(result.trainTokensPerSecond).toBeGreaterThan(0);
    expect(result.template).toBe('model');
  });

  it('reports progress for the eval passes and every training step', () => {
    const phases = new Set(progress.map((p) => p.phase));
    expect([...phases]).toEqual(['eval-before', 'train', 'eval-after']);
    const train = progress.filter((p) => p.phase === 'train');
    expect(train).toHaveLength(4 * result.tokens.trainRows);
    expect(train.at(-1)).toMatchObject({
      epoch: 4,
      epochs: 4,
      step: result.tokens.trainRows,
      steps: result.tokens.trainRows,
    });
    for (const p of progress) expect(Number.isFinite(p.loss)).toBe(true);
  });

  it('writes a LoRA adapter GGUF llama.cpp can load: A/B pairs on the targets, trained B, alpha', async () => {
    const file = readGgufHeader(result.adapterPath);
    expect(metaString(file, 'general.type')).toBe('adapter');
    expect(metaString(file, 'adapter.type')).toBe('lora');
    expect(metaString(file, 'general.architecture')).toBe('qwen2');
    expect(metaNumber(file, 'adapter.lora.alpha')).toBe(8);
    const names = file.tensors.map((t) => t.name);
    expect(names).toHaveLength(2 * 2 * 5); // 2 blocks × 5 targets × (A, B)
    const b = file.tensors.find((t) => t.name === 'blk.1.ffn_down.weight.lora_b');
    expect(b?.ne).toEqual([4, 64]);
    const a = file.tensors.find((t) => t.name === 'blk.0.ffn_up.weight.lora_a');
    expect(a?.ne).toEqual([64, 4]);
    const trainedB = await readGgufTensorF32(result.adapterPath, file, 'blk.1.attn_q.weight.lora_b');
    expect(trainedB.some((v) => v !== 0)).toBe(true); // B starts at zero: non-zero means it was trained
    expect(result.adapterSha256).toBe(await sha256File(result.adapterPath));
  });

  it('leaves the base model untouched', async () => {
    expect(await sha256File(TINY_MODEL)).toBe(baseSha);
  });

  it('is reproducible: the same seed and data give the same adapter bytes', async () => {
    const again = await trainLora({
      baseModelPath: TINY_MODEL,
      train: dataset.train,
      eval: dataset.eval,
      adapterPath: join(dir, 'lora_20261124-2.gguf'),
      rank: 4,
      epochs: 4,
      learningRate: 2e-3,
      threads: 1,
      progressBar: false,
    });
    expect(again.adapterSha256).toBe(result.adapterSha256);
    expect(again.losses).toEqual(result.losses);
  });

  it("rounds the context up to llama.cpp's 256-token padding (rows and batches stay aligned)", async () => {
    const r = await trainLora({
      baseModelPath: TINY_MODEL,
      train: dataset.train.slice(0, 8),
      eval: [],
      adapterPath: join(dir, 'lora_20261126.gguf'),
      contextSize: 100,
      epochs: 1,
      threads: 1,
      progressBar: false,
    });
    expect(r.hyperParameters.contextSize).toBe(256);
    expect(r.tokens.contextSize).toBe(256);
  });

  it('never overwrites an existing adapter file', async () => {
    const taken = join(dir, 'lora_20261125.gguf');
    await writeFile(taken, 'previous adapter');
    await expect(
      trainLora({
        baseModelPath: TINY_MODEL,
        train: dataset.train,
        eval: [],
        adapterPath: taken,
        epochs: 1,
        threads: 1,
        progressBar: false,
      }),
    ).rejects.toMatchObject({ code: 'TRAINER_PUBLISH_CONFLICT' });
    expect(await readFile(taken, 'utf8')).toBe('previous adapter');
  });

  it('rejects what cannot be trained before loading anything', async () => {
    const common = {
      baseModelPath: TINY_MODEL,
      train: dataset.train,
      eval: [],
      adapterPath: join(dir, 'x.gguf'),
      progressBar: false,
    };
    await expect(trainLora({ ...common, targets: ['attn_k' as 'attn_q'] })).rejects.toMatchObject({
      code: 'TRAINER_INVALID_OPTIONS',
    });
    await expect(trainLora({ ...common, rank: 0 })).rejects.toMatchObject({
      code: 'TRAINER_INVALID_OPTIONS',
    });
    await expect(trainLora({ ...common, train: [] })).rejects.toMatchObject({
      code: 'TRAINER_EMPTY_DATASET',
    });
    await expect(trainLora({ ...common, baseModelPath: join(dir, 'absent.gguf') })).rejects.toMatchObject({
      code: 'TRAINER_IO',
    });
    const notModel = join(dir, 'not-a-model.gguf');
    await writeFile(notModel, 'GGUF but not really');
    await expect(trainLora({ ...common, baseModelPath: notModel })).rejects.toMatchObject({
      code: 'TRAINER_GGUF_INVALID',
    });
  });
});

describe('packRows', () => {
  it('cuts rows of nCtx + 1 tokens, repeats a short stream and keeps the tail', () => {
    expect(packRows([1, 2, 3], 4)).toEqual([[1, 2, 3, 1, 2]]);
    expect(packRows([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)).toEqual([
      [0, 1, 2, 3, 4],
      [4, 5, 6, 7, 8],
      [5, 6, 7, 8, 9],
    ]);
    expect(packRows([], 4)).toEqual([]);
  });
});
