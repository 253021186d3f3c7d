import { mulberry32 } from '@sarai/formats';
import * as koffi from 'koffi';
import { TrainerError } from '../errors.js';
import { callAsync, type Ptr } from '../ffi/library.js';
import { OPTIMIZER_TYPE, OptEpochCallback } from '../ffi/structs.js';
import { fillOptDataset, type OptDataset } from './datasets.js';
import { shuffled } from './rows.js';
import type { TrainRun } from './session.js';
import type { TrainProgress } from './types.js';

export interface PassResults {
  before: { loss: number; seconds: number };
  after: { loss: number; seconds: number };
  trainPerEpoch: number[];
  trainSeconds: number;
}

/**
 * The passes of a run over a prepared context: eval loss before, `epochs` training epochs over freshly shuffled
 * rows (learning rate decaying linearly per step), eval loss after. Reports progress per batch; checks abort
 * between passes; any non-finite loss is TRAINER_TRAINING_FAILED.
 */
export async function runPasses(
  run: TrainRun,
  a: {
    ctx: Ptr;
    nCtx: number;
    trainDs: OptDataset;
    evalDs: OptDataset;
    trainRows: readonly number[][];
    evalRows: number;
    setLearningRate: (lr: number) => void;
  },
): Promise<PassResults> {
  const { fn, hp, session, progress, logger } = run;
  const { ctx, nCtx, trainDs, evalDs, trainRows } = a;
  const rTrain = fn.ggml_opt_result_init();
  session.defer(() => fn.ggml_opt_result_free(rTrain));
  const rEval = fn.ggml_opt_result_init();
  session.defer(() => fn.ggml_opt_result_free(rEval));
  const lossOf = (r: Ptr): number => {
    const loss = [0];
    const unc = [0];
    fn.ggml_opt_result_loss(r, loss, unc);
    return loss[0] as number;
  };
  let state: { phase: TrainProgress['phase']; epoch: number; t0: number } = {
    phase: 'eval-before',
    epoch: 0,
    t0: 0,
  };
  let optimizerTypeSeen: number | null = null;
  const totalSteps = trainRows.length * hp.epochs;
  let globalStep = 0;
  const onBatch = (
    train: boolean,
    opt: Ptr,
    _ds: Ptr,
    result: Ptr,
    ibatch: number | bigint,
    ibatchMax: number | bigint,
  ): void => {
    if (optimizerTypeSeen === null) optimizerTypeSeen = fn.ggml_opt_context_optimizer_type(opt);
    const step = Number(ibatch);
    const steps = Number(ibatchMax);
    if (train) {
      globalStep++;
      const frac = Math.min(1, globalStep / totalSteps);
      a.setLearningRate(hp.learningRate + (hp.learningRateMin - hp.learningRate) * frac);
    }
    const seconds = (performance.now() - state.t0) / 1000;
    const p: TrainProgress = {
      phase: state.phase,
      epoch: state.epoch,
      epochs: hp.epochs,
      step,
      steps,
      loss: lossOf(result),
      tokensPerSecond: seconds > 0 ? (step * nCtx) / seconds : 0,
    };
    progress.update(p);
    run.options.onProgress?.(p);
  };
  const epochCallback = koffi.register(onBatch, koffi.pointer(OptEpochCallback));
  session.defer(() => koffi.unregister(epochCallback));

  const evaluate = async (
    phase: 'eval-before' | 'eval-after',
  ): Promise<{ loss: number; seconds: number }> => {
    run.checkAbort();
    state = { phase, epoch: 0, t0: performance.now() };
    fn.ggml_opt_result_reset(rEval);
    progress.start(phase, a.evalRows);
    await callAsync(fn.llama_opt_epoch, ctx, evalDs.ds, rTrain, rEval, 0, null, epochCallback);
    progress.finish();
    const seconds = (performance.now() - state.t0) / 1000;
    if (optimizerTypeSeen !== OPTIMIZER_TYPE[hp.optimizer]) {
      throw new TrainerError(
        'TRAINER_ABI_MISMATCH',
        `llama_opt_params.optimizer_type reads ${optimizerTypeSeen}, ${OPTIMIZER_TYPE[hp.optimizer]} was passed`,
      );
    }
    const loss = lossOf(rEval);
    if (!Number.isFinite(loss)) throw new TrainerError('TRAINER_TRAINING_FAILED', `${phase} loss is ${loss}`);
    return { loss, seconds };
  };

  const before = await evaluate('eval-before');
  logger?.info({ event: 'eval-before', loss: before.loss, rows: a.evalRows }, 'eval loss before training');
  const trainPerEpoch: number[] = [];
  const shuffle = mulberry32(hp.seed ^ 0x5eed);
  let trainSeconds = 0;
  for (let epoch = 1; epoch <= hp.epochs; epoch++) {
    run.checkAbort();
    fillOptDataset(trainDs, shuffled(trainRows, shuffle), nCtx);
    fn.ggml_opt_result_reset(rTrain);
    state = { phase: 'train', epoch, t0: performance.now() };
    progress.start(`epoch ${epoch}/${hp.epochs}`, trainRows.length);
    await callAsync(
      fn.llama_opt_epoch,
      ctx,
      trainDs.ds,
      rTrain,
      rEval,
      trainRows.length,
      epochCallback,
      null,
    );
    progress.finish();
    trainSeconds += (performance.now() - state.t0) / 1000;
    const loss = lossOf(rTrain);
    if (!Number.isFinite(loss))
      throw new TrainerError('TRAINER_TRAINING_FAILED', `epoch ${epoch} train loss is ${loss}`);
    trainPerEpoch.push(loss);
    logger?.info(
      { event: 'epoch', epoch, epochs: hp.epochs, loss },
      `epoch ${epoch}/${hp.epochs} train loss ${loss.toFixed(4)}`,
    );
  }
  const after = await evaluate('eval-after');
  logger?.info({ event: 'eval-after', loss: after.loss }, 'eval loss after training');
  return { before, after, trainPerEpoch, trainSeconds };
}
