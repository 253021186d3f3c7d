import { existsSync } from 'node:fs';
import { envBool as bool, envInt as int } from '@sarai/formats';
import { commonConfigSchema, parseEnvConfig } from '@sarai/skill-runtime';
import { z } from 'zod';
import { modelEnvShape } from './model-env.js';

/** One adapter variant: a name clients select with GenReq.adapter, and the LoRA files stacked on the base model. */
export interface AdapterSpec {
  name: string;
  files: Array<{ path: string; scale: number }>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * Parses ADAPTERS: comma-separated `name=path[*scale][+path[*scale]...]`, e.g.
 * `v3=/models/lora-v3.gguf,mix=/models/a.gguf*0.5+/models/b.gguf`. Throws a message naming the bad entry.
 */
export function parseAdapters(raw: string): AdapterSpec[] {
  const out: AdapterSpec[] = [];
  for (const entry of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`"${entry}" is not name=path[*scale]`);
    const name = entry.slice(0, eq).trim();
    if (!NAME.test(name)) throw new Error(`adapter name "${name}" must match ${NAME.source}`);
    if (out.some((a) => a.name === name)) throw new Error(`adapter name "${name}" is listed twice`);
    const files = entry
      .slice(eq + 1)
      .split('+')
      .map((part) => {
        const m = /^(.+?)(?:\*(-?[0-9.]+))?$/.exec(part.trim());
        const path = m?.[1]?.trim();
        const scale = m?.[2] === undefined ? 1 : Number(m[2]);
        if (!path || !path.endsWith('.gguf'))
          throw new Error(`adapter "${name}": "${part}" is not a path to a .gguf file`);
        if (!Number.isFinite(scale) || Math.abs(scale) > 100)
          throw new Error(`adapter "${name}": bad scale in "${part}"`);
        return { path, scale };
      });
    out.push({ name, files });
  }
  return out;
}

/** Environment of the draft skill (on top of HOST, PORT, METRICS_PORT, LOG_LEVEL, LOG_PROMPTS, ...). */
export const draftConfigSchema = commonConfigSchema
  .extend({
    ...modelEnvShape,
    /** Model identity reported in GenReply.model; default: the GGUF general.name, else the file name. */
    MODEL_NAME: z.string().max(200).optional(),
    /**
     * Largest gRPC message in MiB. A text skill needs no image-sized limit: a prompt that fits the context is at most
     * CONTEXT_SIZE × bytes-per-token (≈ 26 KiB for 2048 tokens of 13 bytes), so 8 MiB leaves room for any context
     * while a 20 MB prompt is refused by the transport before it is parsed.
     */
    SARAI_GRPC_MAX_MESSAGE_MB: z.coerce.number().positive().max(2047).default(8),
    /** Tokens each sequence can hold (prompt + output). */
    CONTEXT_SIZE: int(64, 262_144).default(2048),
    /** Sequences decoded together (batched) in one context: concurrent generations. */
    MAX_CONCURRENT: int(1, 64).default(4),
    /** Requests waiting for a free sequence; beyond this, calls fail fast with RESOURCE_EXHAUSTED. */
    MAX_QUEUE: int(0, 100_000).default(16),
    /** Tokens per llama_decode batch (prompt evaluation). */
    BATCH_SIZE: int(1, 8192).default(512),
    /** Largest max_tokens a request may ask for. */
    MAX_TOKENS_LIMIT: int(1, 262_144).default(1024),
    /** LoRA adapter variants, `name=path[*scale][+path...]` comma-separated; loaded at start. */
    ADAPTERS: z
      .string()
      .default('')
      .transform((raw, ctx) => {
        try {
          return parseAdapters(raw);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
          return z.NEVER;
        }
      }),
    /** Adapter variant serving requests that name none; empty = the base model. */
    ACTIVE_ADAPTER: z.string().default(''),
    /**
     * Directory the nightly trainer publishes signed adapters into (`lora_YYYYMMDD[-n].gguf` + `.manifest.json` +
     * `.manifest.json.asc`); watched, verified and hot-swapped. Unset = no published adapters.
     */
    ADAPTERS_DIR: z.string().optional(),
    /** Armored OpenPGP public key(s) trusted to sign adapter manifests (required with ADAPTERS_DIR). */
    TRUSTED_KEYS_FILE: z.string().optional(),
    /** Periodic rescan of ADAPTERS_DIR in ms, a fallback for missed fs.watch events (0 = off). */
    ADAPTERS_RESCAN_MS: int(0, 86_400_000).default(30_000),
    /** A newly published valid adapter becomes the default at once (else: loaded, activated by ActivateAdapter). */
    ADAPTERS_AUTO_ACTIVATE: bool.default(true),
    /** LoRA scale of published adapters. */
    ADAPTERS_SCALE: z.coerce.number().min(-100).max(100).default(1),
    /**
     * Most adapter files one model instance holds at a time; a swap beyond it loads a fresh model instance and
     * disposes the old one when its generations finish.
     */
    ADAPTERS_PER_MODEL: int(1, 64).default(4),
    /**
     * When a replaced adapter's weights are freed: `in-place` once its last generation finished (swaps stay on one
     * model instance), `with-model` only with its model instance (node-llama-cpp's own behaviour: a fresh instance
     * every ADAPTERS_PER_MODEL files). `auto` = in-place when UV_THREADPOOL_SIZE=1 (the image's setting, which keeps
     * llama.cpp calls from overlapping), else with-model.
     */
    ADAPTERS_RELEASE: z.enum(['auto', 'in-place', 'with-model']).default('auto'),
    /** Reuse cached prompt prefixes across requests (turn off only to measure what reuse saves). */
    PREFIX_REUSE: bool.default(true),
    /** Keep generating past end-of-generation tokens (benchmarks on random-weight models only). */
    IGNORE_EOS: bool.default(false),
  })
  .superRefine((c, ctx) => {
    if (c.MAX_TOKENS_LIMIT >= c.CONTEXT_SIZE) {
      ctx.addIssue({
        code: 'custom',
        path: ['MAX_TOKENS_LIMIT'],
        message: `must be below CONTEXT_SIZE (${c.CONTEXT_SIZE}) so a prompt fits next to the output`,
      });
    }
    const staticFiles = new Set(c.ADAPTERS.flatMap((a) => a.files.map((f) => f.path))).size;
    // With published adapters, a fresh model instance carries the ADAPTERS files, the active adapter and the new one.
    const needed = staticFiles + (c.ADAPTERS_DIR ? 2 : 0);
    if (c.ADAPTERS_PER_MODEL < needed) {
      ctx.addIssue({
        code: 'custom',
        path: ['ADAPTERS_PER_MODEL'],
        message: `must be at least ${needed} (${staticFiles} ADAPTERS files${c.ADAPTERS_DIR ? ' + the active and the new published adapter' : ''})`,
      });
    }
    if (c.ADAPTERS_DIR) {
      if (!c.TRUSTED_KEYS_FILE) {
        ctx.addIssue({
          code: 'custom',
          path: ['TRUSTED_KEYS_FILE'],
          message: 'required with ADAPTERS_DIR: armored public key(s) that sign adapter manifests',
        });
      } else if (!existsSync(c.TRUSTED_KEYS_FILE)) {
        ctx.addIssue({
          code: 'custom',
          path: ['TRUSTED_KEYS_FILE'],
          message: 'no such file (mount it read-only)',
        });
      }
    }
    if (c.ACTIVE_ADAPTER && !c.ADAPTERS.some((a) => a.name === c.ACTIVE_ADAPTER)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ACTIVE_ADAPTER'],
        message: `"${c.ACTIVE_ADAPTER}" is not one of the ADAPTERS names (${c.ADAPTERS.map((a) => a.name).join(', ') || 'none configured'})`,
      });
    }
  });

export type DraftConfig = z.infer<typeof draftConfigSchema>;

/** Reads and validates the environment; throws SkillRuntimeError RUNTIME_BAD_CONFIG naming each bad setting. */
export function loadDraftConfig(env: NodeJS.ProcessEnv = process.env): DraftConfig {
  return parseEnvConfig(draftConfigSchema, env);
}
