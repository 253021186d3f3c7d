import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as koffi from 'koffi';
import type { KoffiFunc, LibraryHandle } from 'koffi';
import type { Logger } from 'pino';
import { errorMessage } from '@sarai/formats';
import { TrainerError } from '../errors.js';
import { verifyAbi, type AbiReport } from './abi-check.js';
import type { LlamaFunctions, Ptr } from './functions.js';
import { GGML_LOG_LEVEL, LogCallback } from './structs.js';

/** Environment variable overriding the directory holding libllama / libggml. */
export const LLAMA_LIB_DIR_ENV = 'SARAI_LLAMA_LIB_DIR';

const LIB_FILES = {
  ggmlBase: 'libggml-base.so',
  ggml: 'libggml.v0.5.0.so',
  llama: 'libllama.v0.5.0.so',
} as const;

export type { ChatMessage, LlamaFunctions, Ptr } from './functions.js';

export interface LlamaLibrary {
  readonly libDir: string;
  readonly version: string;
  readonly fn: LlamaFunctions;
  /** Address of `ggml_opt_get_constant_optimizer_params` (passed to llama_opt_init as the optimizer-params getter). */
  readonly constantOptimizerParams: Ptr;
  readonly abi: AbiReport;
  /** Recent warning/error lines logged by llama.cpp (for error messages). */
  recentErrors(): string[];
  /** Where llama.cpp log lines go (debug/info → logger.debug, warnings/errors → warn/error). */
  setLogger(logger: Logger | undefined): void;
}

/** Runs a koffi function on a worker thread; JS callbacks it triggers are queued back to the main thread. */
export function callAsync<A extends unknown[], R>(fn: KoffiFunc<(...args: A) => R>, ...args: A): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    (fn.async as (...a: unknown[]) => void)(...args, (err: unknown, result: R) =>
      err ? reject(err) : resolve(result),
    );
  });
}

/** Directory of the bundled CPU binaries of node-llama-cpp (`@node-llama-cpp/linux-x64/bins/linux-x64`). */
export function locateLlamaLibDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new TrainerError(
      'TRAINER_UNSUPPORTED_PLATFORM',
      `the bundled llama.cpp binaries and the ABI checks cover linux-x64 only (this is ${process.platform}-${process.arch})`,
    );
  }
  const override = env[LLAMA_LIB_DIR_ENV];
  let dir: string;
  if (override !== undefined && override !== '') {
    dir = override;
  } else {
    let entry: string;
    try {
      entry = createRequire(import.meta.url).resolve('@node-llama-cpp/linux-x64');
    } catch (cause) {
      throw new TrainerError(
        'TRAINER_LIBRARY_NOT_FOUND',
        `@node-llama-cpp/linux-x64 is not installed (set ${LLAMA_LIB_DIR_ENV} to a directory holding ${LIB_FILES.llama})`,
        { cause },
      );
    }
    dir = join(dirname(entry), '..', 'bins', 'linux-x64');
  }
  for (const file of Object.values(LIB_FILES)) {
    if (!existsSync(join(dir, file))) {
      throw new TrainerError('TRAINER_LIBRARY_NOT_FOUND', `${join(dir, file)} does not exist`);
    }
  }
  return dir;
}

let loaded: LlamaLibrary | undefined;

const STACK_BYTES = 16 * 1024 * 1024;

/**
 * Loads libggml-base, libggml and libllama once per process, checks every struct layout this package relies on
 * (throws `TRAINER_ABI_MISMATCH` before any risky call), routes llama.cpp logs and initialises the CPU backend.
 */
export function loadLlamaLibrary(options: { libDir?: string } = {}): LlamaLibrary {
  if (loaded) return loaded;
  const libDir = options.libDir ?? locateLlamaLibDir();
  // llama.cpp recurses over graphs and uses large stack frames: give koffi's call stacks room (config must be
  // set before the first library is loaded; if another module loaded one already, keep its settings).
  try {
    koffi.config({ ...koffi.config(), sync_stack_size: STACK_BYTES, async_stack_size: STACK_BYTES });
  } catch {
    // already configured by someone else in this process
  }
  let base: LibraryHandle, ggml: LibraryHandle, llama: LibraryHandle;
  try {
    base = koffi.load(join(libDir, LIB_FILES.ggmlBase));
    ggml = koffi.load(join(libDir, LIB_FILES.ggml));
    llama = koffi.load(join(libDir, LIB_FILES.llama));
  } catch (cause) {
    throw new TrainerError(
      'TRAINER_FFI_LOAD_FAILED',
      `cannot load llama.cpp from ${libDir}: ${errorMessage(cause)}`,
      { cause },
    );
  }
  const fn = declareFunctions(base, ggml, llama);
  const constantOptimizerParams = base.symbol('ggml_opt_get_constant_optimizer_params') as Ptr;

  // Logs first, so that nothing below prints to stderr unrouted.
  const recent: string[] = [];
  let logger: Logger | undefined;
  let pending = '';
  let pendingLevel: number = GGML_LOG_LEVEL.INFO;
  const onLog = (level: number, text: string | null): void => {
    const effective = level === GGML_LOG_LEVEL.CONT ? pendingLevel : level;
    pending += text ?? '';
    pendingLevel = effective;
    if (!pending.endsWith('\n')) return;
    const line = pending.trimEnd();
    pending = '';
    if (line === '') return;
    if (effective >= GGML_LOG_LEVEL.WARN) {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      if (effective >= GGML_LOG_LEVEL.ERROR) logger?.error({ event: 'llama-log' }, line);
      else logger?.warn({ event: 'llama-log' }, line);
    } else {
      logger?.trace({ event: 'llama-log' }, line);
    }
  };
  const logCallback = koffi.register(onLog, koffi.pointer(LogCallback));
  fn.llama_log_set(logCallback, null);
  fn.ggml_log_set(logCallback, null);

  const abi = verifyAbi(fn);

  // The CPU backend lives in libggml-cpu-<variant>.so; load it unless another module (node-llama-cpp) did.
  const GGML_BACKEND_DEVICE_TYPE_CPU = 0;
  if (fn.ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) === null)
    fn.ggml_backend_load_all_from_path(libDir);
  if (fn.ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) === null) {
    throw new TrainerError('TRAINER_FFI_LOAD_FAILED', `no CPU backend could be loaded from ${libDir}`);
  }
  fn.llama_backend_init();

  loaded = {
    libDir,
    version: abi.version,
    fn,
    constantOptimizerParams,
    abi,
    recentErrors: () => [...recent],
    setLogger: (l) => {
      logger = l;
    },
  };
  return loaded;
}

function declareFunctions(base: LibraryHandle, ggml: LibraryHandle, llama: LibraryHandle): LlamaFunctions {
  const declare = (lib: LibraryHandle, proto: string): never => {
    try {
      return lib.func(proto) as never;
    } catch (cause) {
      throw new TrainerError('TRAINER_FFI_LOAD_FAILED', `cannot bind \`${proto}\`: ${errorMessage(cause)}`, {
        cause,
      });
    }
  };
  const L = (proto: string): never => declare(llama, proto);
  const B = (proto: string): never => declare(base, proto);
  const G = (proto: string): never => declare(ggml, proto);
  return {
    llama_version: L('const char *llama_version(void)'),
    llama_backend_init: L('void llama_backend_init(void)'),
    llama_log_set: L('void llama_log_set(void *cb, void *ud)'),
    llama_model_default_params: L('llama_model_params llama_model_default_params(void)'),
    llama_context_default_params: L('llama_context_params llama_context_default_params(void)'),
    llama_model_load_from_file: L(
      'void *llama_model_load_from_file(const char *path, llama_model_params params)',
    ),
    llama_model_free: L('void llama_model_free(void *model)'),
    llama_model_n_ctx_train: L('int32_t llama_model_n_ctx_train(void *model)'),
    llama_model_meta_val_str: L(
      'int32_t llama_model_meta_val_str(void *model, const char *key, _Out_ uint8_t *buf, size_t size)',
    ),
    llama_model_chat_template: L('const char *llama_model_chat_template(void *model, const char *name)'),
    llama_model_get_vocab: L('void *llama_model_get_vocab(void *model)'),
    llama_init_from_model: L('void *llama_init_from_model(void *model, llama_context_params params)'),
    llama_free: L('void llama_free(void *ctx)'),
    llama_n_ctx: L('uint32_t llama_n_ctx(void *ctx)'),
    llama_get_memory: L('void *llama_get_memory(void *ctx)'),
    llama_memory_clear: L('void llama_memory_clear(void *mem, bool data)'),
    llama_vocab_n_tokens: L('int32_t llama_vocab_n_tokens(void *vocab)'),
    llama_tokenize: L(
      'int32_t llama_tokenize(void *vocab, const char *text, int32_t len, _Out_ int32_t *tokens, int32_t max, bool add_special, bool parse_special)',
    ),
    llama_chat_apply_template: L(
      'int32_t llama_chat_apply_template(const char *tmpl, const llama_chat_message *chat, size_t n, bool add_ass, _Out_ uint8_t *buf, int32_t len)',
    ),
    llama_adapter_lora_init: L('void *llama_adapter_lora_init(void *model, const char *path)'),
    llama_adapter_lora_free: L('void llama_adapter_lora_free(void *adapter)'),
    llama_set_adapters_lora: L(
      'int32_t llama_set_adapters_lora(void *ctx, void **adapters, size_t n, float *scales)',
    ),
    llama_batch_get_one: L('llama_batch llama_batch_get_one(void *tokens, int32_t n)'),
    llama_decode: L('int32_t llama_decode(void *ctx, llama_batch batch)'),
    llama_opt_init: L('void llama_opt_init(void *ctx, void *model, llama_opt_params params)'),
    llama_opt_epoch: L(
      'void llama_opt_epoch(void *ctx, void *dataset, void *result_train, void *result_eval, int64_t idata_split, void *callback_train, void *callback_eval)',
    ),
    ggml_backend_load_all_from_path: G('void ggml_backend_load_all_from_path(const char *dir)'),
    ggml_backend_dev_by_type: G('void *ggml_backend_dev_by_type(int type)'),
    ggml_log_set: B('void ggml_log_set(void *cb, void *ud)'),
    ggml_init: B('void *ggml_init(ggml_init_params params)'),
    ggml_free: B('void ggml_free(void *ctx)'),
    ggml_new_tensor_2d: B('void *ggml_new_tensor_2d(void *ctx, int type, int64_t ne0, int64_t ne1)'),
    ggml_tensor_overhead: B('size_t ggml_tensor_overhead(void)'),
    ggml_set_param: B('void ggml_set_param(void *tensor)'),
    ggml_get_first_tensor: B('void *ggml_get_first_tensor(void *ctx)'),
    ggml_get_next_tensor: B('void *ggml_get_next_tensor(void *ctx, void *tensor)'),
    ggml_get_name: B('const char *ggml_get_name(void *tensor)'),
    ggml_get_name_ptr: B('void *ggml_get_name(void *tensor)'),
    ggml_get_data: B('void *ggml_get_data(void *tensor)'),
    ggml_nbytes: B('size_t ggml_nbytes(void *tensor)'),
    ggml_nelements: B('int64_t ggml_nelements(void *tensor)'),
    ggml_backend_tensor_get: B(
      'void ggml_backend_tensor_get(void *tensor, _Out_ float *data, size_t offset, size_t size)',
    ),
    ggml_backend_tensor_set: B(
      'void ggml_backend_tensor_set(void *tensor, const float *data, size_t offset, size_t size)',
    ),
    ggml_backend_buffer_name: B('const char *ggml_backend_buffer_name(void *buffer)'),
    ggml_opt_dataset_init: B(
      'void *ggml_opt_dataset_init(int type_data, int type_label, int64_t ne_datapoint, int64_t ne_label, int64_t ndata, int64_t ndata_shard)',
    ),
    ggml_opt_dataset_free: B('void ggml_opt_dataset_free(void *dataset)'),
    ggml_opt_dataset_data: B('void *ggml_opt_dataset_data(void *dataset)'),
    ggml_opt_dataset_labels: B('void *ggml_opt_dataset_labels(void *dataset)'),
    ggml_opt_result_init: B('void *ggml_opt_result_init(void)'),
    ggml_opt_result_free: B('void ggml_opt_result_free(void *result)'),
    ggml_opt_result_reset: B('void ggml_opt_result_reset(void *result)'),
    ggml_opt_result_loss: B('void ggml_opt_result_loss(void *result, _Out_ double *loss, _Out_ double *unc)'),
    ggml_opt_result_ndata: B('void ggml_opt_result_ndata(void *result, _Out_ int64_t *ndata)'),
    ggml_opt_context_optimizer_type: B('int ggml_opt_context_optimizer_type(void *opt_ctx)'),
    ggml_opt_get_default_optimizer_params: B(
      'ggml_opt_optimizer_params ggml_opt_get_default_optimizer_params(void *ud)',
    ),
    ggml_opt_get_constant_optimizer_params: B(
      'ggml_opt_optimizer_params ggml_opt_get_constant_optimizer_params(void *ud)',
    ),
    raw_llama_model_default_params: L('void *llama_model_default_params(_Out_ uint8_t *out)'),
    raw_llama_context_default_params: L('void *llama_context_default_params(_Out_ uint8_t *out)'),
    raw_llama_batch_get_one: L('void *llama_batch_get_one(_Out_ uint8_t *out, void *tokens, int32_t n)'),
    raw_ggml_opt_get_default_optimizer_params: B(
      'void *ggml_opt_get_default_optimizer_params(_Out_ uint8_t *out, void *ud)',
    ),
  };
}
