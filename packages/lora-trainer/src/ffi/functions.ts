import type { KoffiFunc } from 'koffi';

// The C signatures bound from libllama / libggml (types only: shared by the loader, the ABI check and the trainer).

/** A native pointer as koffi 3 returns it (null for NULL). */
export type Ptr = bigint;

export interface ModelParams {
  devices: Ptr | null;
  tensor_buft_overrides: Ptr | null;
  n_gpu_layers: number;
  split_mode: number;
  load_mode: number;
  lazy_mode: number;
  main_gpu: number;
  tensor_split: Ptr | null;
  progress_callback: Ptr | null;
  progress_callback_user_data: Ptr | null;
  kv_overrides: Ptr | null;
  vocab_only: boolean;
  check_tensors: boolean;
  use_extra_bufts: boolean;
  no_host: boolean;
  no_alloc: boolean;
  load_mtp: boolean;
}

export interface ContextParams {
  n_ctx: number;
  n_batch: number;
  n_ubatch: number;
  n_seq_max: number;
  n_threads: number;
  n_threads_batch: number;
  flash_attn_type: number;
  type_k: number;
  type_v: number;
  cb_eval: Ptr | null;
  cb_eval_user_data: Ptr | null;
  no_perf: boolean;
  [field: string]: unknown;
}

export interface Batch {
  n_tokens: number;
  token: Ptr | null;
  embd: Ptr | null;
  pos: Ptr | null;
  n_seq_id: Ptr | null;
  seq_id: Ptr | null;
  logits: Ptr | null;
}

export interface OptParams {
  n_ctx_train: number;
  param_filter: Ptr;
  param_filter_ud: Ptr | null;
  get_opt_pars: Ptr;
  get_opt_pars_ud: Ptr | null;
  optimizer_type: number;
}

export interface ChatMessage {
  role: string;
  content: string;
}

/** The C functions this package calls, with their koffi prototypes. */
export interface LlamaFunctions {
  llama_version: KoffiFunc<() => string>;
  llama_backend_init: KoffiFunc<() => void>;
  llama_log_set: KoffiFunc<(cb: Ptr | null, ud: Ptr | null) => void>;
  llama_model_default_params: KoffiFunc<() => ModelParams>;
  llama_context_default_params: KoffiFunc<() => ContextParams>;
  llama_model_load_from_file: KoffiFunc<(path: string, params: ModelParams) => Ptr | null>;
  llama_model_free: KoffiFunc<(model: Ptr) => void>;
  llama_model_n_ctx_train: KoffiFunc<(model: Ptr) => number>;
  llama_model_meta_val_str: KoffiFunc<(model: Ptr, key: string, buf: Buffer, size: number) => number>;
  llama_model_chat_template: KoffiFunc<(model: Ptr, name: string | null) => string | null>;
  llama_model_get_vocab: KoffiFunc<(model: Ptr) => Ptr>;
  llama_init_from_model: KoffiFunc<(model: Ptr, params: ContextParams) => Ptr | null>;
  llama_free: KoffiFunc<(ctx: Ptr) => void>;
  llama_n_ctx: KoffiFunc<(ctx: Ptr) => number>;
  llama_get_memory: KoffiFunc<(ctx: Ptr) => Ptr>;
  llama_memory_clear: KoffiFunc<(mem: Ptr, data: boolean) => void>;
  llama_vocab_n_tokens: KoffiFunc<(vocab: Ptr) => number>;
  llama_tokenize: KoffiFunc<
    (
      vocab: Ptr,
      text: string,
      len: number,
      out: Int32Array,
      max: number,
      addSpecial: boolean,
      parseSpecial: boolean,
    ) => number
  >;
  llama_chat_apply_template: KoffiFunc<
    (tmpl: string, chat: ChatMessage[], n: number, addAssistant: boolean, buf: Buffer, len: number) => number
  >;
  llama_adapter_lora_init: KoffiFunc<(model: Ptr, path: string) => Ptr | null>;
  llama_adapter_lora_free: KoffiFunc<(adapter: Ptr) => void>;
  llama_set_adapters_lora: KoffiFunc<(ctx: Ptr, adapters: Ptr[], n: number, scales: Float32Array) => number>;
  llama_batch_get_one: KoffiFunc<(tokens: Ptr, n: number) => Batch>;
  llama_decode: KoffiFunc<(ctx: Ptr, batch: Batch) => number>;
  llama_opt_init: KoffiFunc<(ctx: Ptr, model: Ptr, params: OptParams) => void>;
  llama_opt_epoch: KoffiFunc<
    (
      ctx: Ptr,
      dataset: Ptr,
      resultTrain: Ptr,
      resultEval: Ptr,
      idataSplit: number,
      cbTrain: Ptr | null,
      cbEval: Ptr | null,
    ) => void
  >;
  ggml_backend_load_all_from_path: KoffiFunc<(dir: string) => void>;
  ggml_backend_dev_by_type: KoffiFunc<(type: number) => Ptr | null>;
  ggml_log_set: KoffiFunc<(cb: Ptr | null, ud: Ptr | null) => void>;
  ggml_init: KoffiFunc<
    (params: { mem_size: number; mem_buffer: Ptr | null; no_alloc: boolean }) => Ptr | null
  >;
  ggml_free: KoffiFunc<(ctx: Ptr) => void>;
  ggml_new_tensor_2d: KoffiFunc<(ctx: Ptr, type: number, ne0: number, ne1: number) => Ptr>;
  ggml_tensor_overhead: KoffiFunc<() => number>;
  ggml_set_param: KoffiFunc<(tensor: Ptr) => void>;
  ggml_get_first_tensor: KoffiFunc<(ctx: Ptr) => Ptr | null>;
  ggml_get_next_tensor: KoffiFunc<(ctx: Ptr, tensor: Ptr) => Ptr | null>;
  ggml_get_name: KoffiFunc<(tensor: Ptr) => string>;
  ggml_get_name_ptr: KoffiFunc<(tensor: Ptr) => Ptr>;
  ggml_get_data: KoffiFunc<(tensor: Ptr) => Ptr | null>;
  ggml_nbytes: KoffiFunc<(tensor: Ptr) => number>;
  ggml_nelements: KoffiFunc<(tensor: Ptr) => number>;
  ggml_backend_tensor_get: KoffiFunc<(tensor: Ptr, data: Float32Array, offset: number, size: number) => void>;
  ggml_backend_tensor_set: KoffiFunc<(tensor: Ptr, data: Float32Array, offset: number, size: number) => void>;
  ggml_backend_buffer_name: KoffiFunc<(buffer: Ptr) => string>;
  ggml_opt_dataset_init: KoffiFunc<
    (
      typeData: number,
      typeLabel: number,
      neDatapoint: number,
      neLabel: number,
      ndata: number,
      ndataShard: number,
    ) => Ptr | null
  >;
  ggml_opt_dataset_free: KoffiFunc<(dataset: Ptr) => void>;
  ggml_opt_dataset_data: KoffiFunc<(dataset: Ptr) => Ptr>;
  ggml_opt_dataset_labels: KoffiFunc<(dataset: Ptr) => Ptr>;
  ggml_opt_result_init: KoffiFunc<() => Ptr>;
  ggml_opt_result_free: KoffiFunc<(result: Ptr) => void>;
  ggml_opt_result_reset: KoffiFunc<(result: Ptr) => void>;
  ggml_opt_result_loss: KoffiFunc<(result: Ptr, loss: number[], unc: number[]) => void>;
  ggml_opt_result_ndata: KoffiFunc<(result: Ptr, ndata: number[]) => void>;
  ggml_opt_context_optimizer_type: KoffiFunc<(opt: Ptr) => number>;
  ggml_opt_get_default_optimizer_params: KoffiFunc<(ud: Ptr | null) => Record<string, number>>;
  ggml_opt_get_constant_optimizer_params: KoffiFunc<(ud: Ptr) => Record<string, number>>;
  /** Raw views of by-value struct returns (hidden result pointer, x86-64 SysV): used only by the ABI probe. */
  raw_llama_model_default_params: KoffiFunc<(out: Buffer) => Ptr>;
  raw_llama_context_default_params: KoffiFunc<(out: Buffer) => Ptr>;
  raw_llama_batch_get_one: KoffiFunc<(out: Buffer, tokens: Ptr, n: number) => Ptr>;
  raw_ggml_opt_get_default_optimizer_params: KoffiFunc<(out: Buffer, ud: Ptr | null) => Ptr>;
}
