import { SkillHealth } from '@sarai/proto';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { z } from 'zod';
import type { AdmissionLimits } from './admission.js';
import { commonConfigSchema, parseEnvConfig, type CommonConfig } from './config.js';
import { errorCodeOf, type ErrorStatusTable } from './error-model.js';
import { SkillRuntimeError } from './errors.js';
import { createLogger } from './logger.js';
import { handleSignals, runMain } from './main.js';
import type { SkillMetrics } from './metrics.js';
import { startSkillServer, type RunningSkill } from './server.js';
import type { SkillService } from './services.js';

/** What a skill's hooks get: its parsed config and the runtime's shared pieces. */
export interface SkillContext<C extends CommonConfig = CommonConfig> {
  readonly name: string;
  readonly config: C;
  /** Redacting pino logger (prompts unless LOG_PROMPTS, key material always). */
  readonly logger: Logger;
  /** Prometheus registry served at /metrics (register the skill's own metrics here). */
  readonly registry: Registry;
  /** Health on grpc.health.v1 and skills.Health (`""` and one entry per service). */
  readonly health: SkillHealth;
  /** Runs after in-flight calls drained, in registration order (close caches, dispose models). */
  onShutdown(fn: () => Promise<void> | void): void;
  /** Reports SERVING/NOT_SERVING on every health entry (no effect before listening or while draining). */
  setServing(serving: boolean): void;
}

/** A skill, declared once; run by {@link runSkill} (its main.ts) or {@link startSkill} (tests). */
export interface SkillDefinition<C extends CommonConfig = CommonConfig, T = undefined> {
  /** Short name: metrics label `skill`, log name, messages ("draft", "image"). */
  readonly name: string;
  /** Environment schema (`commonConfigSchema.extend({...})`); default {@link commonConfigSchema}. */
  readonly config?: z.ZodType<C>;
  /** The skill's error codes → gRPC status; failures travel as `"<CODE>: <message>"`. */
  readonly errors?: ErrorStatusTable;
  /** Admission for every call (concurrency + bounded queue → RESOURCE_EXHAUSTED). */
  readonly limits?: (config: C) => AdmissionLimits | undefined;
  /** Before listening: open what the services need; the result is the skill's state. A `*_BAD_CONFIG` error exits 2. */
  readonly init?: (ctx: SkillContext<C>) => Promise<T> | T;
  /** The services to serve. */
  readonly services: (ctx: SkillContext<C>, state: T) => SkillService[];
  /** After listening (NOT_SERVING): e.g. load a model. SERVING once it resolves; a failure exits 1. */
  readonly start?: (ctx: SkillContext<C>, state: T) => Promise<void> | void;
}

/** Declares a skill (identity function that fixes the types). */
export function defineSkill<C extends CommonConfig = CommonConfig, T = undefined>(
  def: SkillDefinition<C, T>,
): SkillDefinition<C, T> {
  return def;
}

/** A started skill. */
export interface SkillHandle<C extends CommonConfig = CommonConfig, T = undefined> {
  readonly config: C;
  readonly state: T;
  readonly logger: Logger;
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly health: SkillHealth;
  readonly registry: Registry;
  readonly metrics: SkillMetrics;
  readonly running: RunningSkill;
  /** Runs the definition's `start` hook (once) and reports SERVING; `startSkill` calls it unless `start: false`. */
  start(): Promise<void>;
  /** NOT_SERVING, refuse new calls, drain, run the shutdown hooks. */
  shutdown(reason?: string): Promise<void>;
}

export interface StartSkillOptions<C extends CommonConfig> {
  /** Environment to parse (tests: defaults HOST=127.0.0.1, PORT=0, METRICS_PORT=-1, LOG_LEVEL=silent). */
  env?: Record<string, string | undefined>;
  /** Values that replace parsed settings (already typed). */
  config?: Partial<C>;
  /** A complete, already validated config: used as is instead of parsing `env`. */
  resolvedConfig?: C;
  /** Logger (default: the redacting logger at LOG_LEVEL). */
  logger?: Logger;
  /** Run the `start` hook and wait for it (default true). */
  start?: boolean;
}

const TEST_ENV = { HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '-1', LOG_LEVEL: 'silent' };

/** Errors of `init` keep config errors apart (exit 2) from the rest (exit 1). */
function startError(e: unknown, phase: 'init' | 'start'): unknown {
  if (e instanceof SkillRuntimeError) return e;
  const code = errorCodeOf(e);
  if (!code) return e;
  const bad = phase === 'init' && code.endsWith('_BAD_CONFIG');
  return new SkillRuntimeError(bad ? 'RUNTIME_BAD_CONFIG' : 'RUNTIME_START_FAILED', (e as Error).message, {
    cause: e,
  });
}

/**
 * Starts a skill in this process: parses config, runs `init`, listens with both health protocols, metrics,
 * admission and the error model, then runs `start` and reports SERVING. Tests use it with port 0.
 */
export async function startSkill<C extends CommonConfig, T>(
  def: SkillDefinition<C, T>,
  opts: StartSkillOptions<C> = {},
): Promise<SkillHandle<C, T>> {
  const schema = (def.config ?? commonConfigSchema) as z.ZodType<C>;
  const config = {
    ...(opts.resolvedConfig ?? parseEnvConfig(schema, opts.env ?? TEST_ENV)),
    ...opts.config,
  } as C;
  const logger =
    opts.logger ?? createLogger({ name: def.name, level: config.LOG_LEVEL, logPrompts: config.LOG_PROMPTS });
  const registry = new Registry();
  const health = new SkillHealth({ '': 'NOT_SERVING' });
  const hooks: Array<() => Promise<void> | void> = [];
  const ctx: SkillContext<C> = {
    name: def.name,
    config,
    logger,
    registry,
    health,
    onShutdown: (fn) => void hooks.push(fn),
    setServing: () => undefined,
  };
  const cleanup = async () => {
    for (const fn of hooks.splice(0)) await Promise.resolve(fn()).catch(() => undefined);
  };
  let state: T;
  let services: SkillService[];
  try {
    state = (await def.init?.(ctx)) as T;
    services = def.services(ctx, state);
  } catch (e) {
    await cleanup();
    throw startError(e, 'init');
  }
  const limits = def.limits?.(config);
  let running: RunningSkill;
  try {
    running = await startSkillServer({
      name: def.name,
      host: config.HOST,
      port: config.PORT,
      maxMessageBytes: Math.floor(config.SARAI_GRPC_MAX_MESSAGE_MB * 1024 * 1024),
      services,
      logger,
      registry,
      health,
      ...(def.errors ? { errors: def.errors } : {}),
      ...(limits ? { limits } : {}),
      ...(config.METRICS_PORT >= 0 ? { metricsPort: config.METRICS_PORT } : {}),
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    });
  } catch (e) {
    await cleanup();
    throw e;
  }
  for (const fn of hooks.splice(0)) running.onShutdown(fn);
  ctx.onShutdown = (fn) => running.onShutdown(fn);
  ctx.setServing = (serving) => running.setServing(serving);
  let started: Promise<void> | undefined;
  const handle: SkillHandle<C, T> = {
    config,
    state,
    logger,
    port: running.port,
    metricsPort: running.metricsPort,
    health,
    registry,
    metrics: running.metrics,
    running,
    start() {
      started ??= (async () => {
        try {
          await def.start?.(ctx, state);
        } catch (e) {
          await running.shutdown(`${def.name} skill failed to start`).catch(() => undefined);
          throw startError(e, 'start');
        }
        running.setServing(true);
      })();
      return started;
    },
    shutdown: (reason) => running.shutdown(reason),
  };
  if (opts.start !== false) await handle.start();
  return handle;
}

/**
 * The whole main.ts of a skill: config from the environment, listen on PORT (+ /metrics on METRICS_PORT), `start`,
 * SERVING; SIGTERM → NOT_SERVING, drain, exit 0. A bad setting prints one line naming it and exits 2.
 */
export function runSkill<C extends CommonConfig, T>(def: SkillDefinition<C, T>): void {
  runMain(async () => {
    const handle = await startSkill(def, { env: process.env, start: false });
    handleSignals(handle, handle.logger);
    await handle.start();
  });
}
