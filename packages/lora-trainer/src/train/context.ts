import * as koffi from 'koffi';
import { GGML_TYPE } from '../gguf.js';
import type { ContextParams, Ptr } from '../ffi/functions.js';
import { FLASH_ATTN_DISABLED } from '../ffi/structs.js';
import type { TrainRun } from './session.js';

/** llama_context_params for training: one sequence of `contextSize` tokens, F32 KV cache, no flash attention. */
export function trainingContextParams(run: TrainRun, evalCallback: Ptr | null): ContextParams {
  const { fn, hp } = run;
  const p = fn.llama_context_default_params();
  Object.assign(p, {
    n_ctx: hp.contextSize,
    n_batch: hp.contextSize,
    n_ubatch: hp.contextSize,
    n_seq_max: 1,
    n_threads: hp.threads,
    n_threads_batch: hp.threads,
    // OUT_PROD has no F16 support, and FLASH_ATTN_EXT no backward pass.
    type_k: GGML_TYPE.F32,
    type_v: GGML_TYPE.F32,
    flash_attn_type: FLASH_ATTN_DISABLED,
    no_perf: true,
    cb_eval: evalCallback,
  });
  return p;
}

/** Eight token ids for warm-up decodes (freed with the run). */
export function warmupTokens(run: TrainRun): Ptr {
  const tokens = koffi.alloc('int32_t', 8) as Ptr;
  run.session.defer(() => koffi.free(tokens));
  koffi.encode(tokens, 'int32_t', [0, 1, 2, 3, 4, 5, 6, 7], 8);
  return tokens;
}
