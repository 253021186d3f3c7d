import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as nodeLlamaCpp from 'node-llama-cpp';
import type { Llama, LlamaModel } from 'node-llama-cpp';
import { DraftError } from '../errors.js';

/**
 * cmake options of the OpenMP local build (node-llama-cpp names the build folder after them; scripts/openmp-binaries.mjs
 * imports them from here). Portable x86-64-v3 code, no -march=native.
 */
export const OPENMP_CMAKE_OPTIONS = {
  GGML_OPENMP: 'ON',
  GGML_NATIVE: 'OFF',
  GGML_AVX: 'ON',
  GGML_AVX2: 'ON',
  GGML_FMA: 'ON',
  GGML_F16C: 'ON',
  GGML_BMI2: 'ON',
  GGML_AVX512: 'OFF',
} as const;

export type NodeLlamaCpp = typeof nodeLlamaCpp;

/** node-llama-cpp's own package directory (its exports hide package.json: walk up from the entry point). */
function ownPackageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('node-llama-cpp')));
  while (!existsSync(join(dir, 'llama', 'llama.cpp.info.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** True when a local build sits in node-llama-cpp's own `llama/localBuilds` (the image stages the OpenMP one there). */
export function hasOwnLocalBuild(): boolean {
  const dir = join(ownPackageDir(), 'llama', 'localBuilds');
  return existsSync(dir) && readdirSync(dir).some((d) => existsSync(join(dir, d, 'buildDone.status')));
}

/**
 * Where scripts/openmp-binaries.mjs puts its private node-llama-cpp copy (same version as ours), the newest of
 * `$SARAI_LLAMA_CACHE|~/.cache/sarai-draft/nlc-openmp-<version>-<inputs hash>/node_modules/node-llama-cpp/dist/index.js`.
 */
export async function defaultOpenmpModule(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const cache =
    env['SARAI_LLAMA_CACHE'] || join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'sarai-draft');
  const version = await nodeLlamaCpp.getModuleVersion();
  const entry = (d: string) => join(cache, d, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  const builds = existsSync(cache)
    ? readdirSync(cache)
        .filter((d) => d.startsWith(`nlc-openmp-${version}-`) && existsSync(entry(d)))
        .sort((a, b) => statSync(join(cache, b)).mtimeMs - statSync(join(cache, a)).mtimeMs)
    : [];
  return entry(builds[0] ?? `nlc-openmp-${version}-<inputs hash>`);
}

/** True when an OpenMP build is found without LLAMA_OPENMP_MODULE: staged in node-llama-cpp itself or in the cache. */
export async function openmpBuildAvailable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return hasOwnLocalBuild() || existsSync(await defaultOpenmpModule(env));
}

/** The node-llama-cpp module for a binaries flavour (the OpenMP one lives outside node_modules). */
export async function loadBindings(
  binaries: 'prebuilt' | 'openmp',
  openmpModule?: string,
): Promise<NodeLlamaCpp> {
  if (binaries === 'prebuilt') return nodeLlamaCpp;
  if (openmpModule === undefined && hasOwnLocalBuild()) return nodeLlamaCpp;
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
