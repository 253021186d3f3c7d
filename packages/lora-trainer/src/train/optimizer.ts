import * as koffi from 'koffi';
import { TrainerError } from '../errors.js';
import type { Ptr } from '../ffi/library.js';
import { OPTIMIZER_TYPE, OptParamFilter } from '../ffi/structs.js';
import type { TrainRun } from './session.js';

/**
 * llama_opt_init on `ctx` with the run's optimizer: the base model stays frozen (the parameter filter accepts
 * nothing; only the adapter tensors marked with ggml_set_param train), the learning rate comes from a parameter
 * block this returns a setter for. Verifies that llama.cpp read llama_opt_params as declared.
 */
export function initOptimizer(run: TrainRun, ctx: Ptr, model: Ptr, nCtx: number): (lr: number) => void {
  const { fn, hp, session, lib } = run;
  const optParams = koffi.alloc('float', 7) as Ptr;
  session.defer(() => koffi.free(optParams));
  const setLearningRate = (lr: number): void => {
    koffi.encode(optParams, 'float', [lr, 0.9, 0.999, 1e-8, hp.weightDecay, lr, hp.weightDecay], 7);
  };
  setLearningRate(hp.learningRate);
  const filterTag = koffi.alloc('uint64_t', 1) as Ptr;
  session.defer(() => koffi.free(filterTag));
  let filterCalls = 0;
  let filterTagSeen = true;
  const filter = koffi.register((_t: Ptr, ud: Ptr | null) => {
    filterCalls++;
    if (ud !== filterTag) filterTagSeen = false;
    return false; // the base model stays frozen: only the adapter tensors (marked with ggml_set_param) are trained
  }, koffi.pointer(OptParamFilter));
  session.defer(() => koffi.unregister(filter));
  fn.llama_opt_init(ctx, model, {
    n_ctx_train: nCtx,
    param_filter: filter,
    param_filter_ud: filterTag,
    get_opt_pars: lib.constantOptimizerParams,
    get_opt_pars_ud: optParams,
    optimizer_type: OPTIMIZER_TYPE[hp.optimizer],
  });
  if (!filterTagSeen || filterCalls === 0 || fn.llama_model_n_ctx_train(model) !== nCtx) {
    throw new TrainerError(
      'TRAINER_ABI_MISMATCH',
      `llama_opt_params was not read as declared (filter calls ${filterCalls}, userdata ${filterTagSeen ? 'ok' : 'wrong'}, n_ctx_train ${fn.llama_model_n_ctx_train(model)} vs ${nCtx})`,
    );
  }
  return setLearningRate;
}
