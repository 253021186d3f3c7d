import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PromptSigner, isSignerError, withFileLock, type LoadSigningKeyOptions } from '@sarai/signer';
import type { Logger } from 'pino';
import {
  ADAPTER_FILE,
  adapterArtifacts,
  AdapterManifestSchema,
  compareAdapterFiles,
  errorMessage,
  type AdapterArtifacts,
  type AdapterManifest,
} from '@sarai/formats';
import { TrainerError } from './errors.js';
import { publishAdapter } from './publish.js';
import { runTraining, type TrainingSettings } from './run.js';

/** Exit codes of `sarai lora nightly` (and of the container's entry point). */
export const NIGHTLY_EXIT_CODES = {
  /** A new adapter was trained, signed and published. */
  trained: 0,
  /** Failure (bad key, unreadable model, training error, ...). */
  error: 1,
  /** No eligible interaction, or nothing new since the last published adapter. */
  nothingToTrain: 3,
  /** Another run holds the lock. */
  locked: 4,
} as const;

export interface RunNightlyOptions extends TrainingSettings {
  /** Interaction log (JSONL) written by @sarai/loop-core. */
  logPath: string;
  /** Base model GGUF (frozen; a quantized file is fine). */
  baseModel: string;
  /** Published adapters: `lora_YYYYMMDD[-n].gguf` + `.manifest.json` + `.manifest.json.asc` + `.dataset.jsonl`. */
  adaptersDir: string;
  /** Lock against overlapping runs (a `<lockFile>.lock` directory is created while running). */
  lockFile: string;
  /** A loaded signer, or where to load the signing key from (default: SARAI_SIGNING_KEY / _FILE, GPG_KEY_ID). */
  signer?: PromptSigner;
  signingKey?: LoadSigningKeyOptions;
  /** Train even if the newest published adapter already used the same dataset and base (default false). */
  force?: boolean;
  now?: () => Date;
  logger?: Logger;
}

export type NightlyStatus = 'trained' | 'nothing-to-train' | 'locked' | 'error';

export interface NightlyResult {
  status: NightlyStatus;
  exitCode: (typeof NIGHTLY_EXIT_CODES)[keyof typeof NIGHTLY_EXIT_CODES];
  reason?: string;
  /** Published files (status `trained`). */
  artifacts?: AdapterArtifacts;
  manifest?: AdapterManifest;
  error?: TrainerError;
}

const running = new Set<string>();

/** Newest published manifest (by name: date, then run number), if any parses. */
export async function latestManifest(adaptersDir: string): Promise<AdapterManifest | null> {
  const names = (await readdir(adaptersDir).catch(() => [] as string[]))
    .filter((n) => ADAPTER_FILE.test(n))
    .sort(compareAdapterFiles)
    .reverse();
  for (const name of names) {
    try {
      const text = await readFile(adapterArtifacts(join(adaptersDir, name)).manifest, 'utf8');
      return AdapterManifestSchema.parse(JSON.parse(text));
    } catch {
      // unsigned leftovers or foreign files: look further back
    }
  }
  return null;
}

/**
 * The nightly job: under a lock, builds the dataset from the interaction log, trains a LoRA adapter on the frozen
 * base in a staging directory, signs its manifest and publishes it atomically into `adaptersDir`. Never throws:
 * the result carries the exit code ({@link NIGHTLY_EXIT_CODES}) and, on failure, the TrainerError.
 */
export async function runNightly(options: RunNightlyOptions): Promise<NightlyResult> {
  const { logger } = options;
  const lockKey = resolve(options.lockFile);
  if (running.has(lockKey)) {
    return {
      status: 'locked',
      exitCode: NIGHTLY_EXIT_CODES.locked,
      reason: 'a run in this process holds the lock',
    };
  }
  running.add(lockKey);
  try {
    return await withFileLock(lockKey, () => nightlyLocked(options), { timeoutMs: 0, staleMs: 120_000 });
  } catch (error) {
    if (isSignerError(error) && error.code === 'SIGNER_AUDIT_LOCK_TIMEOUT') {
      logger?.warn(
        { event: 'nightly-locked', lockFile: options.lockFile },
        'another nightly run holds the lock',
      );
      return {
        status: 'locked',
        exitCode: NIGHTLY_EXIT_CODES.locked,
        reason: `${options.lockFile} is locked by another run`,
      };
    }
    const trainerError =
      error instanceof TrainerError
        ? error
        : new TrainerError(
            isSignerError(error) ? 'TRAINER_SIGNING_FAILED' : 'TRAINER_IO',
            errorMessage(error),
            { cause: error },
          );
    logger?.error(
      { event: 'nightly-failed', code: trainerError.code, message: trainerError.message },
      'nightly run failed',
    );
    return {
      status: 'error',
      exitCode: NIGHTLY_EXIT_CODES.error,
      reason: trainerError.message,
      error: trainerError,
    };
  } finally {
    running.delete(lockKey);
  }
}

async function nightlyLocked(options: RunNightlyOptions): Promise<NightlyResult> {
  const signer = options.signer ?? (await PromptSigner.load({ ...options.signingKey }));
  await mkdir(options.adaptersDir, { recursive: true });
  // Under the lock, anything left in .staging belongs to a crashed run.
  await rm(join(options.adaptersDir, '.staging'), { recursive: true, force: true });
  const staging = join(options.adaptersDir, '.staging', `${process.pid}`);
  await mkdir(staging, { recursive: true });
  try {
    const run = await runTraining({
      ...options,
      outDir: staging,
      alsoFreeIn: [options.adaptersDir],
      signer,
      skip: async (dataset, baseSha256) => {
        if (options.force) return null;
        const last = await latestManifest(options.adaptersDir);
        return last && last.dataset.sha256 === dataset.sha256 && last.baseModel.sha256 === baseSha256
          ? `the newest adapter (${last.adapter.file}) was trained on the same dataset and base model`
          : null;
      },
    });
    if (run.status === 'nothing-to-train') {
      options.logger?.info({ event: 'nothing-to-train', reason: run.reason }, 'nothing to train');
      return { status: 'nothing-to-train', exitCode: NIGHTLY_EXIT_CODES.nothingToTrain, reason: run.reason };
    }
    const artifacts = await publishAdapter({
      adapterPath: run.artifacts.adapter,
      adaptersDir: options.adaptersDir,
    });
    options.logger?.info({ event: 'published', adapter: artifacts.adapter }, 'adapter published');
    return { status: 'trained', exitCode: NIGHTLY_EXIT_CODES.trained, artifacts, manifest: run.manifest };
  } finally {
    await rm(join(options.adaptersDir, '.staging'), { recursive: true, force: true });
  }
}
