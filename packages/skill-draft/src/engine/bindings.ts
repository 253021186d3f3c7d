import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as nodeLlamaCpp from 'node-llama-cpp';
import type { Llama, LlamaModel } from 'node-llama-cpp';
import { DraftError } from '../errors.js';
import { X86_64_V3_FLAGS, X86_64_V4_VNNI_FLAGS, cpuFlags, missingCpuFlags } from './cpu-level.js';

/** cmake options shared by every OpenMP build: OpenMP threads, portable code (no -march=native). */
const OPENMP_BASE = {
  GGML_OPENMP: 'ON',
  GGML_NATIVE: 'OFF',
  GGML_AVX: 'ON',
  GGML_AVX2: 'ON',
  GGML_FMA: 'ON',
  GGML_F16C: 'ON',
  GGML_BMI2: 'ON',
} as const;

/**
 * One OpenMP build of node-llama-cpp's bundled llama.cpp for one x86-64 level. node-llama-cpp names a build's
 * folder after its cmake options, so several variants sit side by side in `llama/localBuilds`.
 */
export interface OpenmpVariant {
  /** x86-64 micro-architecture level the code is compiled for. */
  readonly name: 'x86-64-v4-vnni' | 'x86-64-v3';
  /** cmake options of the build (scripts/openmp-binaries.mjs builds with them, the engine loads by them). */
  readonly cmakeOptions: Readonly<Record<string, string>>;
  /** /proc/cpuinfo flags a CPU needs to run it. */
  readonly cpuFlags: readonly string[];
}

/**
 * The OpenMP builds the image ships, best first; the engine loads the first one this CPU runs (variant backends
 * chosen at run time). AVX-512 matters for batching: on a Zen 4 box llama.cpp's 4-sequence decode gains 2.4–2.6× over
 * one sequence with AVX-512 code and 1.35× with AVX2 code (llama-batched-bench, Q4_0); VNNI adds ~5 % to single-stream
 * decode (the quantised dot products). A CPU with AVX-512 but no VNNI (Skylake-SP) runs the x86-64-v3 build.
 * scripts/openmp-binaries.mjs imports this list.
 */
export const OPENMP_VARIANTS: readonly OpenmpVariant[] = [
  {
    name: 'x86-64-v4-vnni',
    cmakeOptions: { ...OPENMP_BASE, GGML_AVX512: 'ON', GGML_AVX512_VNNI: 'ON' },
    cpuFlags: X86_64_V4_VNNI_FLAGS,
  },
  { name: 'x86-64-v3', cmakeOptions: { ...OPENMP_BASE, GGML_AVX512: 'OFF' }, cpuFlags: X86_64_V3_FLAGS },
];

export type NodeLlamaCpp = typeof nodeLlamaCpp;

/** node-llama-cpp's own package directory (its exports hide package.json: walk up from the entry point). */
function ownPackageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('node-llama-cpp')));
  while (!existsSync(join(dir, 'llama', 'llama.cpp.info.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** True when a local build sits in node-llama-cpp's own `llama/localBuilds` (the image stages the OpenMP one there). */
export function hasOwnLocalBuild(): boolean {
  return localBuilds(ownLocalBuildsDir()).length > 0;
}

/** node-llama-cpp's own `llama/localBuilds` folder. */
function ownLocalBuildsDir(): string {
  return join(ownPackageDir(), 'llama', 'localBuilds');
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

/** The local builds' folder of the node-llama-cpp copy a module path belongs to (`<pkg>/dist/index.js`). */
function localBuildsOf(modulePath: string): string {
  return join(dirname(dirname(modulePath)), 'llama', 'localBuilds');
}

/** A finished local build in a `llama/localBuilds` folder: its folder name and cmake options. */
export interface LocalBuild {
  folder: string;
  cmakeOptions: Record<string, string>;
}

/** Every finished local build in a `llama/localBuilds` folder (from node-llama-cpp's build metadata). */
export function localBuilds(dir: string): LocalBuild[] {
  if (!existsSync(dir)) return [];
  const out: LocalBuild[] = [];
  for (const folder of readdirSync(dir)) {
    const meta = join(dir, folder, 'Release', '_nlcBuildMetadata.json');
    if (!existsSync(join(dir, folder, 'buildDone.status')) || !existsSync(meta)) continue;
    try {
      const m = JSON.parse(readFileSync(meta, 'utf8')) as {
        buildOptions?: { customCmakeOptions?: Record<string, string> };
      };
      const cmakeOptions = m.buildOptions?.customCmakeOptions;
      if (cmakeOptions) out.push({ folder, cmakeOptions });
    } catch {
      // an unreadable build is not offered
    }
  }
  return out;
}

/** The finished local build of a variant in a `llama/localBuilds` folder, if any. */
export function variantBuild(dir: string, variant: OpenmpVariant): LocalBuild | undefined {
  return localBuilds(dir).find((b) => sameOptions(b.cmakeOptions, variant.cmakeOptions));
}

const sameOptions = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/** Which OpenMP variant to load, or why none (then the engine uses the prebuilt binaries). */
export type OpenmpChoice = { variant: OpenmpVariant; module: string | undefined } | { reason: string };

/**
 * Picks the best OpenMP variant this CPU runs among those built: staged into node-llama-cpp itself (the image), in
 * `openmpModule`'s copy, or in the build cache. `cpuinfo` and `builtOptions` are for tests.
 */
export async function chooseOpenmpVariant(
  openmpModule?: string,
  probe: { cpuinfo?: string; builtOptions?: Array<Record<string, string>> } = {},
): Promise<OpenmpChoice> {
  const flags = cpuFlags(probe.cpuinfo);
  const runnable = OPENMP_VARIANTS.filter((v) => missingCpuFlags(v.cpuFlags, flags).length === 0);
  if (runnable.length === 0) {
    const missing = missingCpuFlags(X86_64_V3_FLAGS, flags);
    return {
      reason: `LLAMA_BINARIES=openmp needs an x86-64-v3 CPU; this one lacks ${missing.join(', ')}: using the prebuilt binaries`,
    };
  }
  let module: string | undefined = openmpModule;
  let built = probe.builtOptions;
  if (!built) {
    const own = openmpModule === undefined ? localBuilds(ownLocalBuildsDir()) : [];
    if (own.length > 0) {
      built = own.map((b) => b.cmakeOptions);
    } else {
      module = openmpModule ?? (await defaultOpenmpModule());
      built = localBuilds(localBuildsOf(module)).map((b) => b.cmakeOptions);
    }
  }
  const variant = runnable.find((v) => built.some((o) => sameOptions(o, v.cmakeOptions)));
  if (!variant) {
    return {
      reason: `LLAMA_BINARIES=openmp: no OpenMP build for ${runnable.map((v) => v.name).join(' or ')} in node-llama-cpp nor in the build cache (an image built with SARAI_DRAFT_BINARIES=prebuilt, or nx run @sarai/skill-draft:openmp-binaries not run): using the prebuilt binaries`,
    };
  }
  return { variant, module };
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
  onLoadProgress?: (loaded: number) => void,
): Promise<LlamaModel> {
  try {
    return await llama.loadModel({
      modelPath: options.modelPath,
      gpuLayers: 0,
      useMmap: options.useMmap,
      defaultContextFlashAttention: options.flashAttention,
      ...(onLoadProgress ? { onLoadProgress } : {}),
    });
  } catch (e) {
    throw new DraftError(
      'DRAFT_MODEL_LOAD_FAILED',
      `MODEL_PATH ${options.modelPath} could not be loaded: ${(e as Error).message}${errors.length ? ` (${errors.slice(-3).join('; ')})` : ''}`,
      { cause: e },
    );
  }
}
