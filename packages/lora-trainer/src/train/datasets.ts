import * as koffi from 'koffi';
import type { Ptr } from '../ffi/library.js';
import { GGML_TYPE } from '../gguf.js';
import type { TrainRun } from './session.js';

/** A ggml_opt dataset of `rows` rows of `nCtx` tokens, with writable views of its data and labels. */
export interface OptDataset {
  ds: Ptr;
  data: Int32Array;
  labels: Int32Array;
}

/** Allocates a dataset (freed with the run). */
export function createOptDataset(run: TrainRun, nCtx: number, rows: number): OptDataset {
  const { fn } = run;
  const ds = fn.ggml_opt_dataset_init(GGML_TYPE.I32, GGML_TYPE.I32, nCtx, nCtx, rows, 1);
  if (ds === null) throw run.nativeError('TRAINER_TRAINING_FAILED', 'cannot allocate the dataset');
  run.session.defer(() => fn.ggml_opt_dataset_free(ds));
  const view = (t: Ptr): Int32Array => {
    const p = fn.ggml_get_data(t);
    if (p === null || fn.ggml_nbytes(t) !== rows * nCtx * 4)
      throw run.nativeError('TRAINER_TRAINING_FAILED', 'unexpected dataset tensor');
    return new Int32Array(koffi.view(p, rows * nCtx * 4));
  };
  return { ds, data: view(fn.ggml_opt_dataset_data(ds)), labels: view(fn.ggml_opt_dataset_labels(ds)) };
}

/** Writes packed rows (nCtx + 1 tokens each) as inputs and next-token labels. */
export function fillOptDataset(target: OptDataset, rows: readonly number[][], nCtx: number): void {
  rows.forEach((row, r) => {
    target.data.set(row.slice(0, nCtx), r * nCtx);
    target.labels.set(row.slice(1, nCtx + 1), r * nCtx);
  });
}
