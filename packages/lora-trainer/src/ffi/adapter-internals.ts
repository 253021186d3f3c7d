import * as koffi from 'koffi';
import { TrainerError } from '../errors.js';
import type { LlamaFunctions, Ptr } from './functions.js';
import { GGML_TENSOR } from './structs.js';

/**
 * Offsets inside llama.cpp's C++ `struct llama_adapter_lora` (src/llama-adapter.h, libstdc++ x86-64):
 *   llama_model * model;                                            //   0
 *   std::unordered_map<std::string, llama_adapter_lora_weight> ab_map;  //   8 (56 bytes)
 *   std::vector<ggml_context_ptr> ctxs;                             //  64 (begin, end, capacity)
 *   std::vector<ggml_backend_buffer_ptr> bufs;                      //  88
 *   float alpha;                                                    // 112
 * Not a public API: every read is cross-checked (model pointer, alpha, vector sizes, and every tensor's name,
 * type and shape against the adapter file this package just wrote) before a tensor is touched.
 */
export const ADAPTER_LAYOUT = {
  model: 0,
  ctxsBegin: 64,
  ctxsEnd: 72,
  bufsBegin: 88,
  bufsEnd: 96,
  alpha: 112,
} as const;

const MAX_CONTEXTS = 16;
const GGML_TYPE_F32 = 0;

export interface AdapterTensor {
  name: string;
  ptr: Ptr;
  ne: number[];
}

/**
 * Finds the tensors of a freshly loaded adapter. `expected` maps tensor name → shape (ggml order) of what the
 * adapter file holds; anything unexpected throws TRAINER_INTERNAL_LAYOUT.
 */
export function adapterTensors(
  fn: LlamaFunctions,
  adapter: Ptr,
  model: Ptr,
  alpha: number,
  expected: ReadonlyMap<string, readonly number[]>,
): Map<string, AdapterTensor> {
  const fail = (why: string): never => {
    throw new TrainerError(
      'TRAINER_INTERNAL_LAYOUT',
      `llama_adapter_lora does not have the layout this package was written for (${why}); refusing to touch its memory`,
    );
  };
  const ptrAt = (base: Ptr, offset: number): Ptr | null => koffi.decode(base, offset, 'void *') as Ptr | null;

  if (ptrAt(adapter, ADAPTER_LAYOUT.model) !== model) fail('the model pointer is not at offset 0');
  const alphaRead = koffi.decode(adapter, ADAPTER_LAYOUT.alpha, 'float') as number;
  if (alphaRead !== Math.fround(alpha)) fail(`alpha reads ${alphaRead}, the file says ${alpha}`);
  const span = (beginOffset: number, endOffset: number, what: string): { begin: Ptr; count: number } => {
    const begin = ptrAt(adapter, beginOffset);
    const end = ptrAt(adapter, endOffset);
    if (begin === null || end === null || end < begin) return fail(`${what} vector is not where expected`);
    const bytes = Number(end - begin);
    if (bytes % 8 !== 0 || bytes / 8 < 1 || bytes / 8 > MAX_CONTEXTS)
      return fail(`${what} vector spans ${bytes} bytes`);
    return { begin, count: bytes / 8 };
  };
  const ctxs = span(ADAPTER_LAYOUT.ctxsBegin, ADAPTER_LAYOUT.ctxsEnd, 'ctxs');
  const bufs = span(ADAPTER_LAYOUT.bufsBegin, ADAPTER_LAYOUT.bufsEnd, 'bufs');
  if (ctxs.count !== bufs.count) fail(`${ctxs.count} contexts but ${bufs.count} buffers`);

  const found = new Map<string, AdapterTensor>();
  for (let i = 0; i < ctxs.count; i++) {
    const ctx = ptrAt(ctxs.begin, i * 8);
    if (ctx === null) fail(`context ${i} is null`);
    for (
      let t = fn.ggml_get_first_tensor(ctx as Ptr);
      t !== null;
      t = fn.ggml_get_next_tensor(ctx as Ptr, t)
    ) {
      if (found.size > expected.size) fail('more tensors than the adapter file holds');
      const name = fn.ggml_get_name(t);
      const shape = expected.get(name);
      if (shape === undefined) fail(`unexpected tensor "${name}"`);
      const ne = [0, 1, 2, 3].map((d) => Number(koffi.decode(t, GGML_TENSOR.ne + 8 * d, 'int64_t')));
      const want = [...(shape as readonly number[]), 1, 1, 1].slice(0, 4);
      if (ne.join(',') !== want.join(',')) fail(`tensor ${name} has shape [${ne}], the file says [${want}]`);
      if (koffi.decode(t, GGML_TENSOR.type, 'int32_t') !== GGML_TYPE_F32) fail(`tensor ${name} is not F32`);
      if (fn.ggml_get_data(t) === null || ptrAt(t, GGML_TENSOR.buffer) === null)
        fail(`tensor ${name} has no buffer`);
      found.set(name, { name, ptr: t, ne: ne.slice(0, shape?.length ?? 2) });
    }
  }
  if (found.size !== expected.size) fail(`found ${found.size} of ${expected.size} tensors`);
  return found;
}
