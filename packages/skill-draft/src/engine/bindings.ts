import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as nodeLlamaCpp from 'node-llama-cpp';
import type { Llama, LlamaModel } from 'node-llama-cpp';
import { DraftError } from '../errors.js';

/** cmake options of the OpenMP local build (must match scripts/openmp-binaries.mjs). */
export const OPENMP_CMAKE_OPTIONS = { GGML_OPENMP: 'ON', GGML_NATIVE: 'ON' } as const;

export type NodeLlamaCpp = typeof nodeLlamaCpp;

/**
 * Where scripts/openmp-binaries.mjs puts its private node-llama-cpp copy (same version as ours):
 * `$SARAI_LLAMA_CACHE|~/.cache/sarai-draft/nlc-openmp-<version>/node_modules/node-llama-cpp/dist/index.js`.
 */
export async function defaultOpenmpModule(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const cache =
    env['SARAI_LLAMA_CACHE'] || join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'sarai-draft');
  const version = await nodeLlamaCpp.getModuleVersion();
  return join(cache, `nlc-openmp-${version}`, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
}

/** The node-llama-cpp module for a binaries flavour (the OpenMP one lives outside node_modules). */
export async function loadBindings(
  binaries: 'prebuilt' | 'openmp',
  openmpModule?: string,
): Promise<NodeLlamaCpp> {
  if (binaries === 'prebuilt') return nodeLlamaCpp;
  const path = openmpModule ?? (await defaultOpenmpModule());
  if (!existsSync(path)) {
    throw new DraftError(
      'DRAFT_MODEL_LOAD_FAILED',
      `LLAMA_BINARIES=openmp: ${path} does not exist; build it with nx run @sarai/skill-draft:openmp-binaries`,
    );
  }
  return (await import(pathToFileURL(path).href)) as NodeLlamaCpp;
}

/** Loads the base model file (the first instance at start, fresh ones on adapter swaps). */
export async function loadModelFile(
  llama: Llama,
  options: { modelPath: string; useMmap: boolean; flashAttention: boolean },
  errors: string[],
): Promise<LlamaModel> {
  try {
    return await llama.loadModel({
      modelPath: options.modelPath,
      gpuLayers: 0,
      useMmap: options.useMmap,
      defaultContextFlashAttention: options.flashAttention,
    });
  } catch (e) {
    throw new DraftError(
      'DRAFT_MODEL_LOAD_FAILED',
      `MODEL_PATH ${options.modelPath} could not be loaded: ${(e as Error).message}${errors.length ? ` (${errors.slice(-3).join('; ')})` : ''}`,
      { cause: e },
    );
  }
}
