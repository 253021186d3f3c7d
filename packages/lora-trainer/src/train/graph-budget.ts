import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as koffi from 'koffi';
import { callAsync, type Ptr } from '../ffi/library.js';
import { SchedEvalCallback } from '../ffi/structs.js';
import { encodeGguf } from '../gguf.js';
import { adapterFileTensors, adapterMetadata, type TargetTensor } from './adapter-file.js';
import { trainingContextParams } from './context.js';
import type { TrainRun } from './session.js';

/** Training graph nodes per forward node, measured 2.3 on the tiny model; a margin on top. */
const GRAPH_FACTOR = 3;
const GRAPH_MARGIN = 512;

export interface GraphBudget {
  forwardNodes: number;
  budget: number;
  budgetAdapters: number;
}

/** Nodes of one forward graph with the adapter attached (a probe context counts them during one decode). */
async function forwardGraphNodes(run: TrainRun, model: Ptr, adapter: Ptr, scales: Float32Array, warm: Ptr) {
  const { fn } = run;
  let forwardNodes = 0;
  const counter = koffi.register((_t: Ptr, ask: boolean) => {
    if (ask) forwardNodes++;
    return !ask;
  }, koffi.pointer(SchedEvalCallback));
  try {
    const probe = fn.llama_init_from_model(model, trainingContextParams(run, counter));
    if (probe === null) throw run.nativeError('TRAINER_CONTEXT_FAILED', 'cannot create a llama context');
    try {
      if (fn.llama_set_adapters_lora(probe, [adapter], 1, scales) !== 0) {
        throw run.nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'cannot attach the adapter');
      }
      const rc = await callAsync(fn.llama_decode, probe, fn.llama_batch_get_one(warm, 8));
      if (rc !== 0) throw run.nativeError('TRAINER_DECODE_FAILED', `llama_decode returned ${rc}`);
    } finally {
      fn.llama_free(probe);
    }
  } finally {
    koffi.unregister(counter);
  }
  return forwardNodes;
}

/**
 * llama.cpp sizes its graphs from the number of adapters registered on the model; a backward graph that outgrows
 * it aborts the process. So measure the forward graph and, when the budget is short, register rank-1 adapters
 * over every block weight (cheap in memory, 6 graph nodes per pair each, never attached) until it fits.
 */
export async function reserveGraphBudget(
  run: TrainRun,
  a: {
    model: Ptr;
    adapter: Ptr;
    scales: Float32Array;
    warm: Ptr;
    scratch: string;
    architecture: string;
    nTensors: number;
    pairs: readonly TargetTensor[];
    all2d: readonly TargetTensor[];
  },
): Promise<GraphBudget> {
  const { fn } = run;
  const forwardNodes = await forwardGraphNodes(run, a.model, a.adapter, a.scales, a.warm);
  const required = GRAPH_FACTOR * forwardNodes + GRAPH_MARGIN;
  let budget = Math.max(1024, 8 * a.nTensors) + 6 * a.pairs.length;
  let budgetAdapters = 0;
  if (budget < required) {
    const budgetPath = join(a.scratch, 'budget.gguf');
    await writeFile(
      budgetPath,
      encodeGguf(adapterMetadata(a.architecture, 1), adapterFileTensors(a.all2d, 1, null)),
    );
    while (budget < required) {
      if (fn.llama_adapter_lora_init(a.model, budgetPath) === null) {
        throw run.nativeError('TRAINER_ADAPTER_LOAD_FAILED', 'cannot load a graph-budget adapter');
      }
      budget += 6 * a.all2d.length;
      budgetAdapters++;
    }
  }
  run.logger?.debug(
    { event: 'graph-budget', forwardNodes, required, budget, budgetAdapters },
    'graph budget',
  );
  return { forwardNodes, budget, budgetAdapters };
}
