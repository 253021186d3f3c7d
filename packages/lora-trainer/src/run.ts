import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  ADAPTER_MANIFEST_SCHEMA_ID,
  adapterArtifacts,
  type AdapterArtifacts,
  type AdapterManifest,
} from '@sarai/formats';
import type { PromptSigner } from '@sarai/signer';
import type { Logger } from 'pino';
import { buildDataset, readInteractionLog, type LoraDataset } from './dataset.js';
import { TrainerError } from './errors.js';
import { allocateAdapterPath, sha256File, writeFileExclusive } from './files.js';
import { TRAINER_VERSION, writeSignedManifest } from './manifest.js';
import { trainLora, type TrainLoraOptions, type TrainLoraResult } from './trainer.js';

/** Hyper-parameters and knobs of a run (everything of trainLora except the data and the output path). */
export type TrainingSettings = Omit<
  TrainLoraOptions,
  'baseModelPath' | 'train' | 'eval' | 'adapterPath' | 'adapterMetadata'
> & {
  /** Fraction of prompts held out for evaluation (default 0.1). */
  evalFraction?: number;
};

export interface RunTrainingOptions extends TrainingSettings {
  /** Interaction log (JSONL) written by @sarai/loop-core. */
  logPath: string;
  baseModel: string;
  /** Where the adapter, manifest, signature and dataset are written. */
  outDir: string;
  /** Directories whose adapter names must not be reused (e.g. the published adapters). */
  alsoFreeIn?: string[];
  signer: PromptSigner;
  /** Returns "nothing to train" when this returns true for the built dataset (e.g. unchanged since last run). */
  skip?: (dataset: LoraDataset, baseSha256: string) => Promise<string | null> | string | null;
  now?: () => Date;
  logger?: Logger;
}

export type RunTrainingResult =
  | {
      status: 'trained';
      artifacts: AdapterArtifacts;
      manifest: AdapterManifest;
      result: TrainLoraResult;
      dataset: LoraDataset;
    }
  | { status: 'nothing-to-train'; reason: string; dataset: LoraDataset };

/**
 * Log → dataset → LoRA training → adapter + dataset JSONL + manifest (hashes, hyper-parameters, losses, duration)
 * + detached signature, all named `lora_YYYYMMDD[-n].*` and never overwritten.
 */
export async function runTraining(options: RunTrainingOptions): Promise<RunTrainingResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const { logger } = options;
  const log = await readInteractionLog(options.logPath);
  const dataset = buildDataset(log, { evalFraction: options.evalFraction ?? 0.1 });
  logger?.info(
    {
      event: 'dataset',
      ...dataset.stats,
      malformedLines: dataset.stats.malformedLines.length,
      sha256: dataset.sha256,
    },
    'dataset built',
  );
  for (const m of dataset.stats.malformedLines)
    logger?.warn(
      { event: 'malformed-record', line: m.line, reason: m.reason },
      'skipped a malformed log line',
    );
  if (dataset.train.length === 0) {
    return {
      status: 'nothing-to-train',
      reason: `no eligible interaction in ${dataset.stats.records} records`,
      dataset,
    };
  }
  let baseStat;
  try {
    baseStat = await stat(options.baseModel);
  } catch (cause) {
    throw new TrainerError('TRAINER_MODEL_LOAD_FAILED', `base model ${options.baseModel} is not readable`, {
      cause,
    });
  }
  const baseSha256 = await sha256File(options.baseModel);
  const skipReason = await options.skip?.(dataset, baseSha256);
  if (skipReason) return { status: 'nothing-to-train', reason: skipReason, dataset };

  const adapterPath = await allocateAdapterPath(options.outDir, startedAt, options.alsoFreeIn);
  const artifacts = adapterArtifacts(adapterPath);
  await writeFileExclusive(artifacts.dataset, dataset.jsonl, 0o600);
  const result = await trainLora({
    ...options,
    baseModelPath: options.baseModel,
    train: dataset.train,
    eval: dataset.eval,
    adapterPath,
    adapterMetadata: { 'base.sha256': baseSha256, 'dataset.sha256': dataset.sha256 },
  });
  const finishedAt = now();
  const manifest: AdapterManifest = {
    schema: ADAPTER_MANIFEST_SCHEMA_ID,
    adapter: { file: basename(adapterPath), sha256: result.adapterSha256, bytes: result.adapterBytes },
    baseModel: {
      file: basename(options.baseModel),
      sha256: baseSha256,
      bytes: baseStat.size,
      architecture: result.architecture,
    },
    dataset: {
      file: basename(artifacts.dataset),
      sha256: dataset.sha256,
      train: dataset.stats.train,
      eval: dataset.stats.eval,
      evalHeldOut: dataset.stats.evalHeldOut,
      records: dataset.stats.records,
      malformed: dataset.stats.malformed,
      notImproved: dataset.stats.notImproved,
      duplicates: dataset.stats.duplicates,
      tokens: result.tokens,
    },
    hyperParameters: { ...result.hyperParameters, evalFraction: options.evalFraction ?? 0.1 },
    losses: result.losses,
    throughput: {
      trainTokensPerSecond: result.trainTokensPerSecond,
      evalTokensPerSecond: result.evalTokensPerSecond,
    },
    trainableParameters: result.trainableParameters,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: Math.round(finishedAt.getTime() - startedAt.getTime()),
    trainer: {
      name: '@sarai/lora-trainer',
      version: TRAINER_VERSION,
      llamaVersion: result.llamaVersion,
      template: result.template,
    },
    signer: { fingerprint: options.signer.fingerprint },
  };
  await writeSignedManifest(manifest, artifacts.manifest, artifacts.signature, options.signer);
  logger?.info(
    {
      event: 'trained',
      adapter: artifacts.adapter,
      evalBefore: result.losses.evalBefore,
      evalAfter: result.losses.evalAfter,
    },
    'adapter trained and manifest signed',
  );
  return { status: 'trained', artifacts, manifest, result, dataset };
}
