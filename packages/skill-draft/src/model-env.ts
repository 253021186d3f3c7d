import { existsSync } from 'node:fs';
import { envBool, envInt } from '@sarai/formats';
import { z } from 'zod';
import { availableCores } from './cpu.js';
import type { ModelLoadOptions } from './engine/model-preload.js';

/**
 * The settings loading the base model depends on: part of the draft skill's environment (config.ts), and all that
 * main.ts reads to start loading the model before the gRPC stack is imported (it needs neither the runtime nor pino).
 */
export const modelEnvShape = {
  /** GGUF model file (e.g. /models/qwen2.5-0.5b-instruct-q4_0.gguf). */
  MODEL_PATH: z
    .string()
    .min(1, 'set MODEL_PATH to a GGUF model file')
    .refine((p) => existsSync(p), 'no such file (mount the model file, e.g. read-only at /models)'),
  /** Inference threads; default: the cores this container may use (affinity, capped by the cgroup CPU quota). */
  THREADS: envInt(1, 512).default(() => availableCores()),
  /**
   * llama.cpp's fused attention kernel: on by default (also what llama-bench's `-fa auto` picks on a CPU); on 2
   * Zen 4 cores it decodes ~3 % faster for one stream and ~8 % faster for 4 batched streams (Q4_0 0.5B).
   */
  FLASH_ATTENTION: envBool.default(true),
  /** node-llama-cpp binaries: 'prebuilt' (portable) or 'openmp' (local build, see scripts/openmp-binaries.mjs). */
  LLAMA_BINARIES: z.enum(['prebuilt', 'openmp']).default('prebuilt'),
  /** Entry point of the OpenMP node-llama-cpp copy (default: where scripts/openmp-binaries.mjs puts it). */
  LLAMA_OPENMP_MODULE: z.string().optional(),
  /** mmap the model file (default) or read it into memory. */
  USE_MMAP: envBool.default(true),
};

/** The parsed model settings (also a subset of the draft config). */
export type ModelEnv = z.infer<z.ZodObject<typeof modelEnvShape>>;

/** The model settings of an environment, or undefined when any is invalid (the full config parse says which). */
export function modelEnvOf(env: Record<string, string | undefined>): ModelEnv | undefined {
  const parsed = z.object(modelEnvShape).safeParse(env);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The model settings as load options: one mapping for main.ts's preload and the service's engine options, so a
 * preload made from the environment matches what the validated config asks for.
 */
export function modelLoadOptionsOf(m: ModelEnv): ModelLoadOptions {
  return {
    modelPath: m.MODEL_PATH,
    threads: m.THREADS,
    binaries: m.LLAMA_BINARIES,
    ...(m.LLAMA_OPENMP_MODULE ? { openmpModule: m.LLAMA_OPENMP_MODULE } : {}),
    useMmap: m.USE_MMAP,
    flashAttention: m.FLASH_ATTENTION,
  };
}
