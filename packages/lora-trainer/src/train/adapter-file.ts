import { TrainerError } from '../errors.js';
import {
  metaNumber,
  metaString,
  readGgufHeader,
  type GgufWriteTensor,
  type GgufWriteValue,
} from '../gguf.js';

/** One LoRA pair to create: base tensor and its (n_in, n_out). */
export interface TargetTensor {
  base: string;
  nIn: number;
  nOut: number;
}

/** The 2-D block weights to adapt (`pairs`), every 2-D block weight (`all2d`) and the architecture of a base model. */
export function targetTensors(
  modelPath: string,
  targets: readonly string[],
): { architecture: string; pairs: TargetTensor[]; nTensors: number; all2d: TargetTensor[] } {
  const header = readGgufHeader(modelPath);
  const architecture = metaString(header, 'general.architecture');
  if (architecture === undefined)
    throw new TrainerError('TRAINER_MODEL_LOAD_FAILED', `${modelPath} has no general.architecture`);
  const blocks = metaNumber(header, `${architecture}.block_count`) ?? 0;
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const pairs: TargetTensor[] = [];
  const all2d: TargetTensor[] = [];
  for (let b = 0; b < blocks; b++) {
    for (const kind of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']) {
      const t = byName.get(`blk.${b}.${kind}.weight`);
      if (t && t.ne.length === 2)
        all2d.push({ base: t.name, nIn: t.ne[0] as number, nOut: t.ne[1] as number });
    }
    for (const target of targets) {
      const t = byName.get(`blk.${b}.${target}.weight`);
      if (t && t.ne.length === 2)
        pairs.push({ base: t.name, nIn: t.ne[0] as number, nOut: t.ne[1] as number });
    }
  }
  for (const target of targets) {
    if (!pairs.some((p) => p.base.endsWith(`.${target}.weight`))) {
      throw new TrainerError(
        'TRAINER_TARGET_NOT_FOUND',
        `the base model has no 2-D blk.N.${target}.weight tensor`,
      );
    }
  }
  return { architecture, pairs, nTensors: header.tensors.length, all2d };
}

/** LoRA factor tensors for `pairs`: A uniform in ±1/√n_in from `rnd` (zeros without it), B zero (a no-op start). */
export function adapterFileTensors(
  pairs: readonly TargetTensor[],
  rank: number,
  rnd: (() => number) | null,
): GgufWriteTensor[] {
  const tensors: GgufWriteTensor[] = [];
  for (const p of pairs) {
    // PEFT's default: A ~ U(-1/sqrt(n_in), 1/sqrt(n_in)), B = 0, so the adapter starts as an exact no-op.
    const a = new Float32Array(p.nIn * rank);
    if (rnd) {
      const bound = 1 / Math.sqrt(p.nIn);
      for (let i = 0; i < a.length; i++) a[i] = (rnd() * 2 - 1) * bound;
    }
    tensors.push({ name: `${p.base}.lora_a`, ne: [p.nIn, rank], data: a });
    tensors.push({ name: `${p.base}.lora_b`, ne: [rank, p.nOut], data: new Float32Array(rank * p.nOut) });
  }
  return tensors;
}

/** Metadata of an adapter GGUF (llama.cpp's LoRA keys) plus `sarai.*` strings. */
export function adapterMetadata(
  architecture: string,
  alpha: number,
  extra: Record<string, string> = {},
): Array<[string, GgufWriteValue]> {
  return [
    ['general.architecture', { type: 'string', value: architecture }],
    ['general.type', { type: 'string', value: 'adapter' }],
    ['general.name', { type: 'string', value: 'sarai-lora' }],
    ['adapter.type', { type: 'string', value: 'lora' }],
    ['adapter.lora.alpha', { type: 'f32', value: alpha }],
    ...Object.entries(extra).map(([k, v]): [string, GgufWriteValue] => [
      `sarai.${k}`,
      { type: 'string', value: v },
    ]),
  ];
}
