import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  Prng,
  isFormatsError,
  meta,
  writeGguf as writeGgufFile,
  type GgmlTypeName,
  type GgufFileSpec,
  type GgufMetaValue,
  type GgufTensorSpec,
} from '@sarai/formats';
import { DraftError } from '../errors.js';
import { CHATML_TEMPLATE, QWEN_SPECIALS, byteLevelVocab, type ByteLevelVocab } from './tokenizer.js';

/** @sarai/formats' GGUF writer with this package's error code (DRAFT_GGUF_INVALID for an invalid spec). */
async function writeGguf(path: string, spec: GgufFileSpec): Promise<{ bytes: number }> {
  try {
    return await writeGgufFile(path, spec);
  } catch (e) {
    if (isFormatsError(e, 'FORMATS_GGUF_INVALID'))
      throw new DraftError('DRAFT_GGUF_INVALID', e.message, { cause: e });
    throw e;
  }
}

/** Transformer dimensions of a generated model. */
export interface ModelDims {
  arch: 'qwen2' | 'llama';
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nCtxTrain: number;
  ropeFreqBase: number;
  rmsEps: number;
  /** Output projection shares token_embd (Qwen2.5-0.5B does). */
  tiedEmbeddings: boolean;
  /** Vocabulary size (byte tokens + merges + control tokens + fillers). */
  nVocab: number;
  /** Words learned as BPE merges (tiny model: makes tokens span several bytes). */
  mergedWords: readonly string[];
  /** Where the control tokens sit (Qwen2.5: 151643). */
  specialAt?: number;
}

const TINY_WORDS = [
  ' t',
  ' a',
  'he',
  'in',
  're',
  'on',
  ' the',
  'er',
  ' s',
  'at',
  'en',
  ' w',
  'ou',
  ' o',
  'is',
  ' c',
  'es',
  ' b',
  'it',
  ' f',
  'an',
  'or',
  ' m',
  ' p',
  'll',
  ' d',
  'ng',
  'ing',
  ' in',
  ' of',
  ' and',
  ' to',
  'ed',
  ' is',
  'ar',
  'st',
  'le',
  'al',
  ' h',
  ' th',
  'nd',
  ' re',
  'ion',
  'as',
  ' l',
  ' n',
  'om',
  ' e',
  'ic',
  ' that',
  ' be',
  'ro',
  '{"',
  '":',
  '",',
  '"}',
  ' {',
  '}\n',
  '\n\n',
  '  ',
  '    ',
  ' "',
  '":"',
];

/** Presets: `tiny` (≤ 1 MB, tests) and `qwen2.5-0.5b` (Qwen2.5-0.5B-Instruct dimensions, benchmarks). */
export const MODEL_PRESETS = {
  tiny: {
    arch: 'qwen2',
    nEmbd: 64,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 2,
    nFf: 128,
    nCtxTrain: 8192,
    ropeFreqBase: 1_000_000,
    rmsEps: 1e-6,
    tiedEmbeddings: false,
    nVocab: 0, // = byte tokens + merges + specials
    mergedWords: TINY_WORDS,
  },
  'qwen2.5-0.5b': {
    arch: 'qwen2',
    nEmbd: 896,
    nLayer: 24,
    nHead: 14,
    nHeadKv: 2,
    nFf: 4864,
    nCtxTrain: 32768,
    ropeFreqBase: 1_000_000,
    rmsEps: 1e-6,
    tiedEmbeddings: true,
    nVocab: 151936,
    mergedWords: [],
    specialAt: 151643,
  },
} as const satisfies Record<string, ModelDims>;
export type ModelPreset = keyof typeof MODEL_PRESETS;
export type ModelWeightType = Extract<GgmlTypeName, 'F32' | 'F16' | 'Q8_0' | 'Q4_0'>;

const FILE_TYPE: Record<ModelWeightType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7 };

export interface GenerateModelOptions {
  preset: ModelPreset;
  /** Type of the 2-D weight tensors (norms and biases stay F32). */
  type: ModelWeightType;
  seed: number;
  path: string;
}

export interface GeneratedModel {
  path: string;
  bytes: number;
  preset: ModelPreset;
  type: ModelWeightType;
  seed: number;
  vocab: ByteLevelVocab;
  dims: ModelDims;
}

/** Canonical file name of a generated model, e.g. `sarai-tiny-q8_0-s1.gguf`. */
export function modelFileName(preset: ModelPreset, type: ModelWeightType, seed: number): string {
  return `sarai-${preset}-${type.toLowerCase()}-s${seed}.gguf`;
}

/** The vocabulary a preset's file carries. */
export function presetVocab(preset: ModelPreset): ByteLevelVocab {
  const d: ModelDims = MODEL_PRESETS[preset];
  return byteLevelVocab({
    mergedWords: d.mergedWords,
    specials: QWEN_SPECIALS,
    ...(d.specialAt !== undefined ? { specialAt: d.specialAt } : {}),
    ...(d.nVocab ? { size: d.nVocab } : {}),
  });
}

/**
 * How strongly each token's output row is scaled: control tokens (EOS, im_start/im_end) get a zero row, so their
 * logit is 0 while the best of the other random logits is almost surely positive: greedy decoding never ends early
 * and sampling rarely does. Non-printable bytes get small rows (mostly readable output).
 */
const ROW_SCALE = { printable: 1, 'other-byte': 0.05, control: 0 } as const;

function tensorsFor(
  dims: ModelDims,
  vocab: ByteLevelVocab,
  type: ModelWeightType,
  seed: number,
): GgufTensorSpec[] {
  const root = new Prng(seed);
  const nVocab = vocab.tokens.length;
  const headDim = dims.nEmbd / dims.nHead;
  const kvDim = headDim * dims.nHeadKv;
  const tiny = dims.nEmbd < 256;
  const t: GgufTensorSpec[] = [];
  const ones = (name: string, n: number): GgufTensorSpec => ({
    name,
    dims: [n],
    type: 'F32',
    fill: (_s, out) => out.fill(1),
  });
  const random = (name: string, d: number[], std: number, wtype: GgmlTypeName = type): GgufTensorSpec => {
    const prng = root.fork(name);
    let next = 0;
    return {
      name,
      dims: d,
      type: wtype,
      fill: (start, out) => {
        if (start !== next)
          throw new DraftError('DRAFT_GGUF_INVALID', `${name}: chunks must be filled in order`);
        prng.fillUniform(out, std);
        next = start + out.length;
      },
    };
  };
  /** Rows (one per token) scaled by the token's class. */
  const perToken = (name: string, std: number): GgufTensorSpec => {
    const base = random(name, [dims.nEmbd, nVocab], std);
    return {
      ...base,
      fill: (start, out) => {
        base.fill(start, out);
        for (let i = 0; i < out.length; i++) {
          const cls = vocab.classes[Math.floor((start + i) / dims.nEmbd)] ?? 'printable';
          if (cls !== 'printable') out[i] = (out[i] as number) * ROW_SCALE[cls];
        }
      },
    };
  };
  // Tied: token_embd is also the output projection, so its rows shape the logits.
  t.push(
    dims.tiedEmbeddings
      ? perToken('token_embd.weight', tiny ? 1 : 0.05)
      : random('token_embd.weight', [dims.nEmbd, nVocab], 1),
  );
  t.push(ones('output_norm.weight', dims.nEmbd));
  if (!dims.tiedEmbeddings) t.push(perToken('output.weight', tiny ? 1 : 0.05));
  for (let l = 0; l < dims.nLayer; l++) {
    const p = `blk.${l}.`;
    const w = (n: string, d: number[]) => random(`${p}${n}.weight`, d, 1 / Math.sqrt(d[0] as number));
    t.push(ones(`${p}attn_norm.weight`, dims.nEmbd));
    t.push(w('attn_q', [dims.nEmbd, dims.nEmbd]));
    t.push(w('attn_k', [dims.nEmbd, kvDim]));
    t.push(w('attn_v', [dims.nEmbd, kvDim]));
    if (dims.arch === 'qwen2') {
      t.push(random(`${p}attn_q.bias`, [dims.nEmbd], 0.02, 'F32'));
      t.push(random(`${p}attn_k.bias`, [kvDim], 0.02, 'F32'));
      t.push(random(`${p}attn_v.bias`, [kvDim], 0.02, 'F32'));
    }
    t.push(w('attn_output', [dims.nEmbd, dims.nEmbd]));
    t.push(ones(`${p}ffn_norm.weight`, dims.nEmbd));
    t.push(w('ffn_gate', [dims.nEmbd, dims.nFf]));
    t.push(w('ffn_up', [dims.nEmbd, dims.nFf]));
    t.push(w('ffn_down', [dims.nFf, dims.nEmbd]));
  }
  return t;
}

function metadataFor(
  preset: ModelPreset,
  dims: ModelDims,
  vocab: ByteLevelVocab,
  type: ModelWeightType,
  seed: number,
): Array<[string, GgufMetaValue]> {
  const a = dims.arch;
  const eos = vocab.special['<|im_end|>'] as number;
  const eot = vocab.special['<|endoftext|>'] as number;
  const m: Array<[string, GgufMetaValue]> = [
    ['general.architecture', meta.str(a)],
    ['general.type', meta.str('model')],
    ['general.name', meta.str(`sarai-${preset}-${type.toLowerCase()}-s${seed}`)],
    [
      'general.description',
      meta.str('Seeded random weights written by @sarai/skill-draft (tests and benchmarks only)'),
    ],
    ['general.file_type', meta.u32(FILE_TYPE[type])],
    ['general.quantization_version', meta.u32(2)],
    ['sarai.generator.preset', meta.str(preset)],
    ['sarai.generator.seed', meta.u32(seed)],
    [`${a}.context_length`, meta.u32(dims.nCtxTrain)],
    [`${a}.embedding_length`, meta.u32(dims.nEmbd)],
    [`${a}.block_count`, meta.u32(dims.nLayer)],
    [`${a}.feed_forward_length`, meta.u32(dims.nFf)],
    [`${a}.attention.head_count`, meta.u32(dims.nHead)],
    [`${a}.attention.head_count_kv`, meta.u32(dims.nHeadKv)],
    [`${a}.attention.layer_norm_rms_epsilon`, meta.f32(dims.rmsEps)],
    [`${a}.rope.freq_base`, meta.f32(dims.ropeFreqBase)],
    ['tokenizer.ggml.model', meta.str('gpt2')],
    ['tokenizer.ggml.pre', meta.str('qwen2')],
    ['tokenizer.ggml.tokens', meta.arr('string', vocab.tokens)],
    ['tokenizer.ggml.token_type', meta.arr('i32', vocab.types)],
    ['tokenizer.ggml.merges', meta.arr('string', vocab.merges)],
    ['tokenizer.ggml.eos_token_id', meta.u32(eos)],
    ['tokenizer.ggml.padding_token_id', meta.u32(eot)],
    ['tokenizer.ggml.bos_token_id', meta.u32(eot)],
    ['tokenizer.ggml.add_bos_token', meta.bool(false)],
    ['tokenizer.chat_template', meta.str(CHATML_TEMPLATE)],
  ];
  return m;
}

/** Writes a model GGUF with seeded random weights (same seed → same bytes). Written to a temp name, then renamed. */
export async function generateModel(opts: GenerateModelOptions): Promise<GeneratedModel> {
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff) {
    throw new DraftError('DRAFT_GGUF_INVALID', `seed must be a 32-bit unsigned integer, got ${opts.seed}`);
  }
  const dims: ModelDims = MODEL_PRESETS[opts.preset];
  const vocab = presetVocab(opts.preset);
  const fullDims = { ...dims, nVocab: vocab.tokens.length };
  await mkdir(dirname(opts.path), { recursive: true });
  const tmp = `${opts.path}.${process.pid}.tmp`;
  try {
    const { bytes } = await writeGguf(tmp, {
      metadata: metadataFor(opts.preset, fullDims, vocab, opts.type, opts.seed),
      tensors: tensorsFor(fullDims, vocab, opts.type, opts.seed),
    });
    await rename(tmp, opts.path);
    return {
      path: opts.path,
      bytes,
      preset: opts.preset,
      type: opts.type,
      seed: opts.seed,
      vocab,
      dims: fullDims,
    };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Generates the model into `dir` under its canonical name unless it is already there; returns its path. */
export async function ensureModel(
  dir: string,
  opts: Omit<GenerateModelOptions, 'path'>,
): Promise<{ path: string; generated: boolean; bytes: number }> {
  const path = join(dir, modelFileName(opts.preset, opts.type, opts.seed));
  if (existsSync(path)) return { path, generated: false, bytes: (await stat(path)).size };
  const m = await generateModel({ ...opts, path });
  return { path, generated: true, bytes: m.bytes };
}

/** Base-model tensors a LoRA adapter may target (per block). */
export type LoraTarget = 'attn_q' | 'attn_k' | 'attn_v' | 'attn_output' | 'ffn_gate' | 'ffn_up' | 'ffn_down';

export interface GenerateLoraOptions {
  preset: ModelPreset;
  targets: readonly LoraTarget[];
  rank: number;
  /** adapter.lora.alpha; the effective scale is alpha / rank × the user's scale. */
  alpha: number;
  seed: number;
  path: string;
  /** Std of both A and B (B = 0 gives a no-op adapter, as a trainer starts from). Default 0.05. */
  std?: number;
  zeroB?: boolean;
}

/** Writes a LoRA adapter GGUF for a preset's dimensions (tensors `<base>.lora_a` [n_in, r], `.lora_b` [r, n_out]). */
export async function generateLoraAdapter(
  opts: GenerateLoraOptions,
): Promise<{ path: string; bytes: number }> {
  const d: ModelDims = MODEL_PRESETS[opts.preset];
  const headDim = d.nEmbd / d.nHead;
  const kvDim = headDim * d.nHeadKv;
  const shape: Record<LoraTarget, [number, number]> = {
    attn_q: [d.nEmbd, d.nEmbd],
    attn_k: [d.nEmbd, kvDim],
    attn_v: [d.nEmbd, kvDim],
    attn_output: [d.nEmbd, d.nEmbd],
    ffn_gate: [d.nEmbd, d.nFf],
    ffn_up: [d.nEmbd, d.nFf],
    ffn_down: [d.nFf, d.nEmbd],
  };
  const root = new Prng(opts.seed);
  const std = opts.std ?? 0.05;
  const tensors: GgufTensorSpec[] = [];
  for (let l = 0; l < d.nLayer; l++) {
    for (const target of opts.targets) {
      const [nIn, nOut] = shape[target];
      const base = `blk.${l}.${target}.weight`;
      const a = root.fork(`${base}.lora_a`);
      const b = root.fork(`${base}.lora_b`);
      tensors.push({
        name: `${base}.lora_a`,
        dims: [nIn, opts.rank],
        type: 'F32',
        fill: (_s, out) => a.fillUniform(out, std),
      });
      tensors.push({
        name: `${base}.lora_b`,
        dims: [opts.rank, nOut],
        type: 'F32',
        fill: (_s, out) => (opts.zeroB ? out.fill(0) : b.fillUniform(out, std)),
      });
    }
  }
  await mkdir(dirname(opts.path), { recursive: true });
  const tmp = `${opts.path}.${process.pid}.tmp`;
  try {
    const { bytes } = await writeGguf(tmp, {
      metadata: [
        ['general.architecture', meta.str(d.arch)],
        ['general.type', meta.str('adapter')],
        ['general.name', meta.str(`sarai-${opts.preset}-lora-r${opts.rank}-s${opts.seed}`)],
        ['adapter.type', meta.str('lora')],
        ['adapter.lora.alpha', meta.f32(opts.alpha)],
      ],
      tensors,
    });
    await rename(tmp, opts.path);
    return { path: opts.path, bytes };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
