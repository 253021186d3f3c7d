import koffi from 'koffi';

/**
 * C declarations mirrored from the bundled llama.cpp (`include/llama.h`, `ggml/include/ggml.h`,
 * `ggml/include/ggml-opt.h` of node-llama-cpp 3.22.1's llama.cpp release). Every struct passed or returned by
 * value is checked against the library at start-up (see abi-check.ts) before any other call.
 */
export const LLAMA_VERSION_PREFIX = '0.5.0';

export const LlamaModelParams = koffi.struct('llama_model_params', {
  devices: 'void *',
  tensor_buft_overrides: 'void *',
  n_gpu_layers: 'int32_t',
  split_mode: 'int32_t',
  load_mode: 'int32_t',
  lazy_mode: 'int32_t',
  main_gpu: 'int32_t',
  tensor_split: 'void *',
  progress_callback: 'void *',
  progress_callback_user_data: 'void *',
  kv_overrides: 'void *',
  vocab_only: 'bool',
  check_tensors: 'bool',
  use_extra_bufts: 'bool',
  no_host: 'bool',
  no_alloc: 'bool',
  load_mtp: 'bool',
});

/** `llama_model_default_params()` of the bundled release (src/llama-model.cpp). */
export const MODEL_PARAMS_DEFAULTS = {
  devices: null,
  tensor_buft_overrides: null,
  n_gpu_layers: -1,
  split_mode: 1,
  load_mode: -1,
  lazy_mode: 1,
  main_gpu: 0,
  tensor_split: null,
  progress_callback: null,
  progress_callback_user_data: null,
  kv_overrides: null,
  vocab_only: false,
  check_tensors: false,
  use_extra_bufts: true,
  no_host: false,
  no_alloc: false,
  load_mtp: false,
} as const;

export const LlamaContextParams = koffi.struct('llama_context_params', {
  n_ctx: 'uint32_t',
  n_batch: 'uint32_t',
  n_ubatch: 'uint32_t',
  n_seq_max: 'uint32_t',
  n_rs_seq: 'uint32_t',
  n_outputs_max: 'uint32_t',
  n_outputs_max_per_seq: 'uint32_t',
  n_threads: 'int32_t',
  n_threads_batch: 'int32_t',
  ctx_type: 'int32_t',
  rope_scaling_type: 'int32_t',
  pooling_type: 'int32_t',
  attention_type: 'int32_t',
  flash_attn_type: 'int32_t',
  rope_freq_base: 'float',
  rope_freq_scale: 'float',
  yarn_ext_factor: 'float',
  yarn_attn_factor: 'float',
  yarn_beta_fast: 'float',
  yarn_beta_slow: 'float',
  yarn_orig_ctx: 'uint32_t',
  defrag_thold: 'float',
  cb_eval: 'void *',
  cb_eval_user_data: 'void *',
  type_k: 'int32_t',
  type_v: 'int32_t',
  abort_callback: 'void *',
  abort_callback_data: 'void *',
  embeddings: 'bool',
  offload_kqv: 'bool',
  no_perf: 'bool',
  op_offload: 'bool',
  swa_full: 'bool',
  kv_unified: 'bool',
  samplers: 'void *',
  n_samplers: 'size_t',
  ctx_other: 'void *',
});

/** `llama_context_default_params()` of the bundled release (src/llama-context.cpp). */
export const CONTEXT_PARAMS_DEFAULTS = {
  n_ctx: 512,
  n_batch: 2048,
  n_ubatch: 512,
  n_seq_max: 1,
  n_rs_seq: 0,
  n_outputs_max: 0,
  n_outputs_max_per_seq: 1,
  n_threads: 4,
  n_threads_batch: 4,
  ctx_type: 0,
  rope_scaling_type: -1,
  pooling_type: -1,
  attention_type: -1,
  flash_attn_type: -1,
  rope_freq_base: 0,
  rope_freq_scale: 0,
  yarn_ext_factor: -1,
  yarn_attn_factor: -1,
  yarn_beta_fast: -1,
  yarn_beta_slow: -1,
  yarn_orig_ctx: 0,
  defrag_thold: -1,
  cb_eval: null,
  cb_eval_user_data: null,
  type_k: 1,
  type_v: 1,
  abort_callback: null,
  abort_callback_data: null,
  embeddings: false,
  offload_kqv: true,
  no_perf: true,
  op_offload: true,
  swa_full: true,
  kv_unified: false,
  samplers: null,
  n_samplers: 0,
  ctx_other: null,
} as const;

export const LlamaBatch = koffi.struct('llama_batch', {
  n_tokens: 'int32_t',
  token: 'void *',
  embd: 'void *',
  pos: 'void *',
  n_seq_id: 'void *',
  seq_id: 'void *',
  logits: 'void *',
});

/** Passed by value to llama_opt_init; it has no default getter, so it is checked through its callbacks. */
export const LlamaOptParams = koffi.struct('llama_opt_params', {
  n_ctx_train: 'uint32_t',
  param_filter: 'void *',
  param_filter_ud: 'void *',
  get_opt_pars: 'void *',
  get_opt_pars_ud: 'void *',
  optimizer_type: 'int32_t',
});

export const GgmlOptOptimizerParams = koffi.struct('ggml_opt_optimizer_params', {
  adamw_alpha: 'float',
  adamw_beta1: 'float',
  adamw_beta2: 'float',
  adamw_eps: 'float',
  adamw_wd: 'float',
  sgd_alpha: 'float',
  sgd_wd: 'float',
});

/** `ggml_opt_get_default_optimizer_params()` (ggml/src/ggml-opt.cpp). */
export const OPTIMIZER_PARAMS_DEFAULTS = {
  adamw_alpha: 0.001,
  adamw_beta1: 0.9,
  adamw_beta2: 0.999,
  adamw_eps: 1e-8,
  adamw_wd: 0,
  sgd_alpha: 0.001,
  sgd_wd: 0,
} as const;

export const LlamaChatMessage = koffi.struct('llama_chat_message', {
  role: 'const char *',
  content: 'const char *',
});

export const GgmlInitParams = koffi.struct('ggml_init_params', {
  mem_size: 'size_t',
  mem_buffer: 'void *',
  no_alloc: 'bool',
});

/** Offsets inside `struct ggml_tensor` (ggml.h) that this package reads; verified on a live tensor at start-up. */
export const GGML_TENSOR = {
  size: 336,
  type: 0,
  buffer: 8,
  ne: 16,
  nb: 48,
  op: 80,
  flags: 148,
  data: 248,
  name: 256,
  nameLength: 64,
} as const;
/** sizeof(struct ggml_object) + sizeof(struct ggml_tensor): what ggml_tensor_overhead() returns. */
export const GGML_TENSOR_OVERHEAD = 32 + GGML_TENSOR.size;
export const GGML_TENSOR_FLAG_PARAM = 4;

export const OptParamFilter = koffi.proto('bool llama_opt_param_filter(void *tensor, void *userdata)');
export const OptEpochCallback = koffi.proto(
  'void ggml_opt_epoch_callback(bool train, void *opt_ctx, void *dataset, void *result, int64_t ibatch, int64_t ibatch_max, int64_t t_start_us)',
);
export const LogCallback = koffi.proto(
  'void ggml_log_callback(int level, const char *text, void *user_data)',
);
export const SchedEvalCallback = koffi.proto(
  'bool ggml_backend_sched_eval_callback(void *tensor, bool ask, void *user_data)',
);

export const GGML_LOG_LEVEL = { NONE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, CONT: 5 } as const;
export const OPTIMIZER_TYPE = { adamw: 0, sgd: 1 } as const;
export const FLASH_ATTN_DISABLED = 0;
export const LOAD_MODE_NONE = 0;
