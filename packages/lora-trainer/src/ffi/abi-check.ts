import * as koffi from 'koffi';
import type { TypeObject } from 'koffi';
import { TrainerError } from '../errors.js';
import type { LlamaFunctions, Ptr } from './functions.js';
import {
  CONTEXT_PARAMS_DEFAULTS,
  GGML_TENSOR,
  GGML_TENSOR_FLAG_PARAM,
  GGML_TENSOR_OVERHEAD,
  GgmlOptOptimizerParams,
  LLAMA_VERSION_PREFIX,
  LlamaBatch,
  LlamaContextParams,
  LlamaModelParams,
  MODEL_PARAMS_DEFAULTS,
  OPTIMIZER_PARAMS_DEFAULTS,
} from './structs.js';

export interface AbiReport {
  version: string;
  /** One line per verified item (struct, size, field values). */
  checks: string[];
}

const PROBE_BYTES = 4096;
const GGML_TYPE_F32 = 0;

/** Offset just past the last declared field (what the callee writes; trailing padding excluded). */
export function declaredDataEnd(type: TypeObject): number {
  let end = 0;
  for (const m of Object.values(type.members ?? {})) end = Math.max(end, m.offset + m.type.size);
  return end;
}

/**
 * How many bytes a by-value struct return really writes: the call runs twice into buffers pre-filled with two
 * different patterns; the last byte equal in both is the last one the library wrote. Needs the x86-64 SysV
 * convention (hidden result pointer in the first integer register), which locateLlamaLibDir enforces.
 */
export function writtenExtent(call: (out: Buffer) => unknown): number {
  const a = Buffer.alloc(PROBE_BYTES, 0xaa);
  const b = Buffer.alloc(PROBE_BYTES, 0x55);
  call(a);
  call(b);
  let last = -1;
  for (let i = 0; i < PROBE_BYTES; i++) if (a[i] === b[i]) last = i;
  return last + 1;
}

function same(actual: unknown, expected: unknown): boolean {
  if (typeof expected === 'number' && typeof actual === 'number')
    return Math.fround(expected) === Math.fround(actual);
  if (typeof expected === 'number' && typeof actual === 'bigint') return BigInt(expected) === actual;
  return actual === expected;
}

/** Field-by-field comparison; returns the mismatches. */
export function compareFields(actual: Record<string, unknown>, expected: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [field, value] of Object.entries(expected)) {
    if (!same(actual[field], value))
      problems.push(`${field}: library has ${String(actual[field])}, expected ${String(value)}`);
  }
  return problems;
}

/**
 * Checks one struct returned by value: the bytes the library writes must end exactly where the declaration's last
 * field ends, then every field decoded through the declaration must equal the documented default.
 */
export function checkReturnedStruct(
  name: string,
  type: TypeObject,
  rawCall: (out: Buffer) => unknown,
  decodedCall: () => Record<string, unknown>,
  expected: Record<string, unknown>,
): { problems: string[]; summary: string } {
  const extent = writtenExtent(rawCall);
  const end = declaredDataEnd(type);
  if (extent !== end) {
    // decoding with a wrong layout would only add noise
    const problem = `${name}: the library writes ${extent} bytes, the declaration covers ${end} (sizeof ${type.size})`;
    return { problems: [problem], summary: '' };
  }
  const problems = compareFields(decodedCall(), expected).map((p) => `${name}.${p}`);
  const summary = `${name}: ${extent} bytes written = declared, ${Object.keys(expected).length} fields match`;
  return { problems, summary };
}

/**
 * Checks every struct this package passes to or reads from llama.cpp against the loaded library: written size of
 * by-value returns, field-by-field default values, and the `ggml_tensor` fields read directly (on a live tensor).
 * Throws TRAINER_ABI_MISMATCH listing every mismatch; nothing else is called before it passes.
 */
export function verifyAbi(fn: LlamaFunctions): AbiReport {
  const problems: string[] = [];
  const checks: string[] = [];
  const version = fn.llama_version();
  if (!version.startsWith(LLAMA_VERSION_PREFIX)) {
    problems.push(`llama_version() is "${version}", the declarations are for ${LLAMA_VERSION_PREFIX}.x`);
  }
  checks.push(`llama_version ${version}`);

  const structCheck = (
    name: string,
    type: TypeObject,
    call: (out: Buffer) => unknown,
    actual: () => Record<string, unknown>,
    expected: Record<string, unknown>,
  ): void => {
    const r = checkReturnedStruct(name, type, call, actual, expected);
    problems.push(...r.problems);
    if (r.problems.length === 0) checks.push(r.summary);
  };

  structCheck(
    'llama_model_params',
    LlamaModelParams,
    (b) => fn.raw_llama_model_default_params(b),
    () => fn.llama_model_default_params() as unknown as Record<string, unknown>,
    MODEL_PARAMS_DEFAULTS,
  );
  structCheck(
    'llama_context_params',
    LlamaContextParams,
    (b) => fn.raw_llama_context_default_params(b),
    () => fn.llama_context_default_params(),
    CONTEXT_PARAMS_DEFAULTS,
  );
  structCheck(
    'ggml_opt_optimizer_params',
    GgmlOptOptimizerParams,
    (b) => fn.raw_ggml_opt_get_default_optimizer_params(b, null),
    () => fn.ggml_opt_get_default_optimizer_params(null),
    OPTIMIZER_PARAMS_DEFAULTS,
  );

  const tokens = koffi.alloc('int32_t', 8) as Ptr;
  try {
    structCheck(
      'llama_batch',
      LlamaBatch,
      (b) => fn.raw_llama_batch_get_one(b, tokens, 7),
      () => fn.llama_batch_get_one(tokens, 7) as unknown as Record<string, unknown>,
      {
        n_tokens: 7,
        token: tokens,
        embd: null,
        pos: null,
        n_seq_id: null,
        seq_id: null,
        logits: null,
      },
    );
  } finally {
    koffi.free(tokens);
  }

  // ggml_opt_get_constant_optimizer_params returns *userdata: a round trip through it checks the field order.
  const probe = [0.125, 0.5, 0.75, 0.25, 0.0625, 0.375, 0.03125];
  const params = koffi.alloc('float', probe.length) as Ptr;
  try {
    koffi.encode(params, 'float', probe, probe.length);
    const back = fn.ggml_opt_get_constant_optimizer_params(params);
    const names = Object.keys(OPTIMIZER_PARAMS_DEFAULTS);
    const mismatch = compareFields(back, Object.fromEntries(names.map((n, i) => [n, probe[i]])));
    problems.push(...mismatch.map((p) => `ggml_opt_optimizer_params round trip: ${p}`));
    if (mismatch.length === 0) checks.push('ggml_opt_optimizer_params: constant-getter round trip matches');
  } finally {
    koffi.free(params);
  }

  problems.push(...checkTensorLayout(fn, checks));

  if (problems.length > 0) {
    throw new TrainerError(
      'TRAINER_ABI_MISMATCH',
      `the loaded llama.cpp does not match this package's declarations; refusing to continue:\n  - ${problems.join('\n  - ')}`,
    );
  }
  return { version, checks };
}

/** Reads a live tensor through both the public accessors and the offsets this package uses. */
function checkTensorLayout(fn: LlamaFunctions, checks: string[]): string[] {
  const problems: string[] = [];
  const overhead = fn.ggml_tensor_overhead();
  if (overhead !== GGML_TENSOR_OVERHEAD) {
    problems.push(
      `ggml_tensor_overhead() is ${overhead}, expected ${GGML_TENSOR_OVERHEAD} (sizeof ggml_tensor ${GGML_TENSOR.size})`,
    );
    return problems;
  }
  const ctx = fn.ggml_init({ mem_size: 64 * 1024, mem_buffer: null, no_alloc: false });
  if (ctx === null) return ['ggml_init failed'];
  try {
    const t = fn.ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 3, 5);
    const int64 = (offset: number): number => Number(koffi.decode(t, offset, 'int64_t'));
    const ne = [0, 1, 2, 3].map((d) => int64(GGML_TENSOR.ne + 8 * d));
    const nb = [0, 1, 2, 3].map((d) => int64(GGML_TENSOR.nb + 8 * d));
    const expect = (what: string, actual: unknown, expected: unknown): void => {
      if (!same(actual, expected))
        problems.push(`ggml_tensor.${what}: read ${String(actual)}, expected ${String(expected)}`);
    };
    expect('type', koffi.decode(t, GGML_TENSOR.type, 'int32_t'), GGML_TYPE_F32);
    expect('ne', ne.join(','), '3,5,1,1');
    expect('nb', nb.join(','), '4,12,60,60');
    expect('name (address)', fn.ggml_get_name_ptr(t), t + BigInt(GGML_TENSOR.name));
    expect('data', koffi.decode(t, GGML_TENSOR.data, 'void *'), fn.ggml_get_data(t));
    expect('nbytes', fn.ggml_nbytes(t), 60);
    const flagsBefore = Number(koffi.decode(t, GGML_TENSOR.flags, 'int32_t'));
    fn.ggml_set_param(t);
    const flagsAfter = Number(koffi.decode(t, GGML_TENSOR.flags, 'int32_t'));
    expect('flags (param bit set by ggml_set_param)', flagsAfter & ~flagsBefore, GGML_TENSOR_FLAG_PARAM);
    if (problems.length === 0)
      checks.push('ggml_tensor: type, ne, nb, flags, data and name offsets match a live tensor');
  } finally {
    fn.ggml_free(ctx);
  }
  return problems;
}
