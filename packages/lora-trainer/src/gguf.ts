// Adapter GGUF files in the trainer's terms: @sarai/formats' GGUF reader and writer with TRAINER_* error codes and
// the small metadata vocabulary adapters use.
import {
  encodeGguf as encodeGgufSpec,
  f32Tensor,
  meta,
  readGgufHeader as readHeader,
  readGgufTensorF32 as readTensorF32,
  type GgufFile,
  type GgufMetaValue,
} from '@sarai/formats';
import { asTrainerError } from './errors.js';

export { GGML_TYPE, metaNumber, metaString, type GgufFile, type GgufTensorInfo } from '@sarai/formats';

/** Metadata entry to write: a string, f32, u32, bool or an array of strings. */
export type GgufWriteValue =
  | { type: 'string'; value: string }
  | { type: 'f32'; value: number }
  | { type: 'u32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string[]'; value: readonly string[] };

/** One F32 tensor to write. */
export interface GgufWriteTensor {
  name: string;
  /** ggml order. */
  ne: readonly number[];
  data: Float32Array;
}

const metaValue = (v: GgufWriteValue): GgufMetaValue =>
  v.type === 'string[]' ? meta.arr('string', v.value) : ({ type: v.type, value: v.value } as GgufMetaValue);

function trainerErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw asTrainerError(error);
  }
}

/**
 * Serialises a GGUF v3 file holding F32 tensors (what LoRA adapters need) into one buffer.
 * @throws TrainerError `TRAINER_GGUF_INVALID` when a tensor's shape does not match its values.
 */
export function encodeGguf(
  metadata: ReadonlyArray<[string, GgufWriteValue]>,
  tensors: readonly GgufWriteTensor[],
): Buffer {
  return trainerErrors(() =>
    encodeGgufSpec({
      metadata: metadata.map(([k, v]) => [k, metaValue(v)] as const),
      tensors: tensors.map((t) => f32Tensor(t.name, t.ne, t.data)),
    }),
  );
}

/**
 * Reads the header of a GGUF file (see @sarai/formats `readGgufHeader`).
 * @throws TrainerError `TRAINER_IO` (cannot open) or `TRAINER_GGUF_INVALID` (malformed).
 */
export function readGgufHeader(path: string): GgufFile {
  return trainerErrors(() => readHeader(path));
}

/**
 * Reads an F32 tensor's values (adapters).
 * @throws TrainerError `TRAINER_GGUF_INVALID` when absent, not F32 or truncated.
 */
export async function readGgufTensorF32(path: string, file: GgufFile, name: string): Promise<Float32Array> {
  try {
    return await readTensorF32(path, file, name);
  } catch (error) {
    throw asTrainerError(error);
  }
}
