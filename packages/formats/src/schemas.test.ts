import { describe, expect, it } from 'vitest';
import {
  ADAPTER_FILE,
  adapterArtifacts,
  adapterFileName,
  adapterName,
  compareAdapterFiles,
  dateStamp,
} from './adapter-files.js';
import {
  AdapterManifestIdentitySchema,
  AdapterManifestSchema,
  serializeAdapterManifest,
  type AdapterManifest,
} from './adapter-manifest.js';
import {
  InteractionOutcomeSchema,
  InteractionRecordSchema,
  type InteractionRecord,
} from './interaction-record.js';

const sha = (c: string) => c.repeat(64);

const counts = {
  train: 1,
  eval: 1,
  evalHeldOut: true,
  records: 2,
  malformed: 0,
  notImproved: 0,
  duplicates: 0,
};
const hyper = {
  rank: 4,
  alpha: 8,
  targets: ['attn_q'],
  learningRate: 1e-3,
  learningRateMin: 1e-3,
  weightDecay: 0,
};
const manifest: AdapterManifest = {
  schema: 'sarai.lora-manifest/v1',
  adapter: { file: 'lora_20261124.gguf', sha256: sha('a'), bytes: 10 },
  baseModel: { file: 'base.gguf', sha256: sha('b'), bytes: 20, architecture: 'qwen2' },
  dataset: {
    ...{ file: 'lora_20261124.dataset.jsonl', sha256: sha('c'), ...counts },
    tokens: { train: 5, eval: 5, trainRows: 1, evalRows: 1, contextSize: 256 },
  },
  hyperParameters: {
    ...{ ...hyper, optimizer: 'adamw', epochs: 1, contextSize: 256, threads: 1, seed: 42 },
    ...{ systemPrompt: null, evalFraction: 0.1 },
  },
  losses: { evalBefore: 2, evalAfter: 1, trainPerEpoch: [1.5] },
  throughput: { trainTokensPerSecond: 100, evalTokensPerSecond: 200 },
  ...{
    trainableParameters: 100,
    startedAt: '2026-11-24T02:00:00.000Z',
    finishedAt: '2026-11-24T02:00:01.000Z',
  },
  durationMs: 1000,
  trainer: { name: '@sarai/lora-trainer', version: '0.1.0', llamaVersion: 'b1', template: 'model' },
  signer: { fingerprint: 'ABCD' },
};

describe('adapter file naming', () => {
  it('names, orders and finds the siblings of published adapters', () => {
    expect(adapterFileName(dateStamp(new Date('2026-11-24T23:59:00Z')))).toBe('lora_20261124.gguf');
    expect(adapterFileName('20261124', 2)).toBe('lora_20261124-2.gguf');
    expect(
      ['lora_20261124-2.gguf', 'x.gguf', 'lora_20261124.gguf.tmp'].map((f) => ADAPTER_FILE.test(f)),
    ).toEqual([true, false, false]);
    const files = [
      'lora_20261125.gguf',
      'lora_20261124-10.gguf',
      'lora_20261124.gguf',
      'lora_20261124-2.gguf',
    ];
    expect(files.sort(compareAdapterFiles)).toEqual([
      'lora_20261124.gguf',
      'lora_20261124-2.gguf',
      'lora_20261124-10.gguf',
      'lora_20261125.gguf',
    ]);
    expect(adapterName('lora_20261124-2.gguf')).toBe('lora_20261124-2');
    expect(adapterArtifacts('/a/lora_20261124-2.gguf')).toEqual({
      adapter: '/a/lora_20261124-2.gguf',
      manifest: '/a/lora_20261124-2.manifest.json',
      signature: '/a/lora_20261124-2.manifest.json.asc',
      dataset: '/a/lora_20261124-2.dataset.jsonl',
    });
  });
});

describe('adapter manifest', () => {
  it('serializes canonically (schema field order, 2-space JSON, newline) and parses back', () => {
    const { signer, ...rest } = manifest;
    const shuffled: AdapterManifest = { signer, ...rest }; // another key order
    const text = serializeAdapterManifest(shuffled);
    expect(text).toBe(JSON.stringify(manifest, null, 2) + '\n');
    expect(AdapterManifestSchema.parse(JSON.parse(text))).toEqual(manifest);
  });

  it('rejects wrong schema ids and hashes; the identity view checks only what a skill relies on', () => {
    expect(AdapterManifestSchema.safeParse({ ...manifest, schema: 'other/v1' }).success).toBe(false);
    expect(
      AdapterManifestSchema.safeParse({ ...manifest, adapter: { ...manifest.adapter, sha256: 'x' } }).success,
    ).toBe(false);
    const { schema, adapter, baseModel } = manifest;
    expect(AdapterManifestIdentitySchema.parse({ schema, adapter, baseModel, extra: 1 })).toEqual({
      schema,
      adapter,
      baseModel,
    });
    expect(AdapterManifestSchema.safeParse({ schema, adapter, baseModel }).success).toBe(false);
  });
});

describe('interaction record', () => {
  const record: InteractionRecord = {
    v: 1,
    ts: '2026-11-24T10:00:00.000Z',
    prompt: 'Q?',
    iterations: [
      {
        iteration: 0,
        sentPrompt: 'Q?',
        response: 'A.',
        confidence: 0.9,
        corrected: false,
        source: 'skill',
        checks: [{ checker: 'json', pass: true, feedback: '' }],
      },
    ],
    final: 'A.',
    autoCorrected: false,
    checkersPassed: true,
    hadCheckers: true,
  };

  it('parses what the writer writes, and the reader view keeps only the outcome', () => {
    expect(InteractionRecordSchema.parse(JSON.parse(JSON.stringify(record)))).toEqual(record);
    expect(InteractionOutcomeSchema.parse(record)).toEqual({
      ts: record.ts,
      prompt: 'Q?',
      final: 'A.',
      autoCorrected: false,
      checkersPassed: true,
      iterations: [
        {
          iteration: 0,
          response: 'A.',
          confidence: 0.9,
          corrected: false,
          checks: record.iterations[0]?.checks,
        },
      ],
    });
  });

  it('rejects bad timestamps and out-of-range confidences in both views', () => {
    for (const schema of [InteractionRecordSchema, InteractionOutcomeSchema]) {
      expect(schema.safeParse({ ...record, ts: 'yesterday' }).success).toBe(false);
      const it0 = { ...record.iterations[0], confidence: 2 };
      expect(schema.safeParse({ ...record, iterations: [it0] }).success).toBe(false);
    }
    const { v: _v, hadCheckers: _h, ...older } = record;
    expect(InteractionRecordSchema.safeParse(older).success).toBe(false);
    expect(InteractionOutcomeSchema.safeParse(older).success).toBe(true);
  });
});
