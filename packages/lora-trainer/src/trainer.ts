// trainLora: the orchestration of one training run. Each step lives in train/: settings (hyper-parameters),
// adapter files (adapter-file), graph budget, tokenization (tokens), datasets, optimizer, passes, and the run's
// shared state and native resources (session).
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage, mulberry32 } from '@sarai/formats';
import { TrainerError } from './errors.js';
import { adapterTensors, type AdapterTensor } from './ffi/adapter-internals.js';
import { callAsync, loadLlamaLibrary } from './ffi/library.js';
import { sha256File, writeFileExclusive } from './files.js';
import { encodeGguf, type GgufWriteTensor } from './gguf.js';
import { createProgressReporter } from './progress.js';
import { adapterFileTensors, adapterMetadata, targetTensors } from './train/adapter-file.js';
import { trainingContextParams, warmupTokens } from './train/context.js';
import { createOptDataset, fillOptDataset } from './train/datasets.js';
import { reserveGraphBudget } from './train/graph-budget.js';
import { resolveHyperParameters } from './train/hyper-parameters.js';
import { initOptimizer } from './train/optimizer.js';
import { runPasses } from './train/passes.js';
import { packRows } from './train/rows.js';
import { Session, createTrainRun } from './train/session.js';
import { tokenStreams } from './train/tokens.js';
import type { TrainLoraOptions, TrainLoraResult } from './train/types.js';

// For this package's modules and tests: the row packer and the run's types.
export { packRows } from './train/rows.js';
export type { TrainLoraOptions, TrainLoraResult, TrainProgress } from './train/types.js';

/**
 * Trains a LoRA adapter on a frozen GGUF base with llama.cpp's own optimizer (llama_opt_init / llama_opt_epoch):
 * the base weights stay untouched (and may stay quantized); only the adapter's A and B matrices are trainable.
 * Reports the eval loss before and after, writes the adapter GGUF atomically to `adapterPath`.
 */
export async function trainLora(options: TrainLoraOptions): Promise<TrainLoraResult> {
  const started = performance.now();
  const hp = resolveHyperParameters(options);
  if (options.train.length === 0) throw new TrainerError('TRAINER_EMPTY_DATASET', 'no training pairs');
  const lib = options.library ?? loadLlamaLibrary();
  lib.setLogger(options.logger);
  const { fn } = lib;

  const { architecture, pairs, nTensors, all2d } = targetTensors(options.baseModelPath, hp.targets);
  const session = new Session();
  const scratch = await mkdtemp(join(options.scratchDir ?? tmpdir(), 'sarai-lora-'));
  session.defer(() => rm(scratch, { recursive: true, force: true }));
  const progress = createProgressReporter(options.progressBar ?? process.stderr.isTTY === true);
  session.defer(() => progress.stop());
  const run = createTrainRun(options, hp, lib, session, progress);
  try {
    run.checkAbort();
    // ---- model (frozen; repacked layouts have no backward pass) ----
    const mparams = fn.llama_model_default_params();
    mparams.n_gpu_layers = 0;
    mparams.use_extra_bufts = false;
    const model = await callAsync(fn.llama_model_load_from_file, options.baseModelPath, mparams);
    if (model === null)
      throw run.nativeError('TRAINER_MODEL_LOAD_FAILED', `cannot load ${options.baseModelPath}`);
    session.defer(() => fn.llama_model_free(model)); // also frees every adapter loaded on it

    // ---- initial adapter (A random, B zero: a no-op), loaded by llama.cpp itself ----
    const initTensors = adapterFileTensors(pairs, hp.rank, mulberry32(hp.seed));
    const initPath = join(scratch, 'init.gguf');
    await writeFile(initPath, encodeGguf(adapterMetadata(architecture, hp.alpha), initTensors));
    const adapter = fn.llama_adapter_lora_init(model, initPath);
    if (adapter === null)
      throw run.nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'llama.cpp rejected the initial adapter');
    const expected = new Map(initTensors.map((t) => [t.name, t.ne]));
    const tensors = adapterTensors(fn, adapter, model, hp.alpha, expected);
    const trainableParameters = initTensors.reduce((n, t) => n + t.data.length, 0);

    const scales = new Float32Array([1]);
    const warm = warmupTokens(run);
    const graph = await reserveGraphBudget(run, {
      model,
      adapter,
      scales,
      warm,
      scratch,
      architecture,
      nTensors,
      pairs,
      all2d,
    });

    // ---- training context ----
    const ctx = fn.llama_init_from_model(model, trainingContextParams(run, null));
    if (ctx === null) throw run.nativeError('TRAINER_CONTEXT_FAILED', 'cannot create a llama context');
    session.defer(() => fn.llama_free(ctx));
    const nCtx = fn.llama_n_ctx(ctx);
    if (nCtx !== hp.contextSize) {
      throw new TrainerError(
        'TRAINER_CONTEXT_FAILED',
        `llama.cpp made a ${nCtx}-token context, ${hp.contextSize} was asked`,
      );
    }
    if (fn.llama_set_adapters_lora(ctx, [adapter], 1, scales) !== 0) {
      throw run.nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'cannot attach the adapter');
    }
    for (const t of tensors.values()) fn.ggml_set_param(t.ptr);

    // ---- data ----
    const { glue, trainStream, evalStream } = tokenStreams(run, model);
    const trainRows = packRows(trainStream, nCtx);
    const evalRows = packRows(evalStream, nCtx);
    const trainDs = createOptDataset(run, nCtx, trainRows.length);
    const evalDs = createOptDataset(run, nCtx, evalRows.length);
    fillOptDataset(evalDs, evalRows, nCtx);

    // ---- optimizer: llama.cpp's thread pool is only set up by a first decode ----
    const warmRc = await callAsync(fn.llama_decode, ctx, fn.llama_batch_get_one(warm, 8));
    if (warmRc !== 0) throw run.nativeError('TRAINER_DECODE_FAILED', `llama_decode returned ${warmRc}`);
    fn.llama_memory_clear(fn.llama_get_memory(ctx), true);
    const setLearningRate = initOptimizer(run, ctx, model, nCtx);

    const passes = await runPasses(run, {
      ctx,
      nCtx,
      trainDs,
      evalDs,
      trainRows,
      evalRows: evalRows.length,
      setLearningRate,
    });

    // ---- read the trained factors back and write the adapter ----
    const trained: GgufWriteTensor[] = initTensors.map((t) => {
      const info = tensors.get(t.name) as AdapterTensor;
      const data = new Float32Array(t.data.length);
      fn.ggml_backend_tensor_get(info.ptr, data, 0, data.byteLength);
      for (const v of data)
        if (!Number.isFinite(v))
          throw new TrainerError('TRAINER_TRAINING_FAILED', `${t.name} holds non-finite values`);
      return { name: t.name, ne: t.ne, data };
    });
    const adapterBytes = encodeGguf(
      adapterMetadata(architecture, hp.alpha, options.adapterMetadata),
      trained,
    );
    await writeFileExclusive(options.adapterPath, adapterBytes);
    const size = (await stat(options.adapterPath)).size;
    return {
      adapterPath: options.adapterPath,
      adapterSha256: await sha256File(options.adapterPath),
      adapterBytes: size,
      architecture,
      hyperParameters: hp,
      losses: {
        evalBefore: passes.before.loss,
        evalAfter: passes.after.loss,
        trainPerEpoch: passes.trainPerEpoch,
      },
      tokens: {
        train: trainStream.length,
        eval: evalStream.length,
        trainRows: trainRows.length,
        evalRows: evalRows.length,
        contextSize: nCtx,
      },
      trainTokensPerSecond: (trainRows.length * nCtx * hp.epochs) / passes.trainSeconds,
      evalTokensPerSecond: (evalRows.length * nCtx) / passes.after.seconds,
      durationMs: performance.now() - started,
      template: glue.source,
      llamaVersion: lib.version,
      graph,
      trainableParameters,
    };
  } catch (error) {
    if (error instanceof TrainerError) throw error;
    throw new TrainerError('TRAINER_TRAINING_FAILED', `training failed: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    await session.close();
  }
}
