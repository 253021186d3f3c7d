import { join } from 'node:path';
import * as koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { checkReturnedStruct, declaredDataEnd } from './abi-check.js';
import { loadLlamaLibrary } from './library.js';
import { LlamaModelParams, MODEL_PARAMS_DEFAULTS } from './structs.js';

describe('start-up ABI checks against the bundled llama.cpp', () => {
  const lib = loadLlamaLibrary();
  const llama = koffi.load(join(lib.libDir, 'libllama.v0.5.0.so'));
  const raw = llama.func('void *llama_model_default_params(_Out_ uint8_t *out)');

  it('pass for the declarations in use, covering every by-value struct and the ggml_tensor fields read', () => {
    expect(lib.version).toMatch(/^0\.5\.0/);
    expect(lib.abi.checks).toEqual(
      expect.arrayContaining([
        'llama_model_params: 78 bytes written = declared, 17 fields match',
        'llama_context_params: 160 bytes written = declared, 37 fields match',
        'llama_batch: 56 bytes written = declared, 7 fields match',
        'ggml_opt_optimizer_params: 28 bytes written = declared, 7 fields match',
        'ggml_opt_optimizer_params: constant-getter round trip matches',
        'ggml_tensor: type, ne, nb, flags, data and name offsets match a live tensor',
      ]),
    );
  });

  it('detect a struct missing its last field (the library writes past the declaration)', () => {
    const { load_mtp: _dropped, ...fields } = LlamaModelParams.members ?? {};
    const short = koffi.struct(
      'llama_model_params_short',
      Object.fromEntries(Object.entries(fields).map(([k, m]) => [k, m.type])),
    );
    expect(declaredDataEnd(short)).toBe(77);
    const r = checkReturnedStruct(
      'llama_model_params',
      short,
      (b) => raw(b),
      () => ({}),
      {},
    );
    expect(r.problems).toEqual([
      'llama_model_params: the library writes 78 bytes, the declaration covers 77 (sizeof 80)',
    ]);
  });

  it('detect swapped fields of the same size through the default values', () => {
    const swapped = koffi.struct('llama_model_params_swapped', {
      devices: 'void *',
      tensor_buft_overrides: 'void *',
      n_gpu_layers: 'int32_t',
      load_mode: 'int32_t', // swapped with split_mode
      split_mode: 'int32_t',
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
    const decoded = llama.func('llama_model_params_swapped llama_model_default_params(void)');
    const r = checkReturnedStruct(
      'llama_model_params',
      swapped,
      (b) => raw(b),
      () => decoded(),
      MODEL_PARAMS_DEFAULTS,
    );
    expect(r.problems).toEqual([
      'llama_model_params.split_mode: library has -1, expected 1',
      'llama_model_params.load_mode: library has 1, expected -1',
    ]);
  });
});
