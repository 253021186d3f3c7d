import { GenReq, RpcError, connectSkill, type SkillConnection } from '@sarai/proto';
import { createLogger, parseEnvConfig } from '@sarai/skill-runtime';
import { draftConfigSchema } from '../config.js';
import type { EngineOptions } from '../engine.js';
import { startDraftService, type DraftService } from '../service.js';
import { TINY_MODEL } from './models.js';

export interface TestServer {
  service: DraftService;
  conn: SkillConnection;
  address: string;
  close(): Promise<void>;
}

/**
 * The real draft service on loopback (ephemeral gRPC and metrics ports) with the tiny model.
 * THREADS=1: the tiny model is too small to gain from a second thread, and a per-token thread hand-off would only
 * slow the tests on a busy 2-core machine.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  opts: {
    load?: boolean;
    clientMaxMessageBytes?: number;
    logger?: import('pino').Logger;
    /** Engine option overrides (e.g. a model preload). */
    engine?: Partial<EngineOptions>;
  } = {},
): Promise<TestServer> {
  const config = parseEnvConfig(draftConfigSchema, {
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    MODEL_PATH: TINY_MODEL,
    THREADS: '1',
    CONTEXT_SIZE: '4096',
    MAX_TOKENS_LIMIT: '4000',
    SHUTDOWN_GRACE_MS: '10000',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const logger = opts.logger ?? createLogger({ name: 'draft-test', level: config.LOG_LEVEL });
  const service = await startDraftService(config, {
    logger,
    ...(opts.engine ? { engine: opts.engine } : {}),
  });
  if (opts.load !== false) await service.load();
  const address = `127.0.0.1:${service.running.port}`;
  const conn = connectSkill(address, {
    ...(opts.clientMaxMessageBytes ? { maxMessageBytes: opts.clientMaxMessageBytes } : {}),
  });
  return {
    service,
    conn,
    address,
    async close() {
      conn.close();
      await service.shutdown('test done');
    },
  };
}

/** A GenReq with defaults filled in. */
export function genReq(fields: Partial<GenReq> & { prompt: string }): GenReq {
  return GenReq.create({ maxTokens: 16, ...fields });
}

/** Collects a GenerateStream call: the concatenated tokens and the final chunk's reply. */
export async function collectStream(conn: SkillConnection, req: GenReq, timeoutMs?: number) {
  const call = conn.skill.generateStream(req, timeoutMs !== undefined ? { timeout: timeoutMs } : {});
  let text = '';
  let chunks = 0;
  let final: import('@sarai/proto').GenReply | undefined;
  for await (const chunk of call.responses) {
    if (chunk.final) final = chunk.reply;
    else {
      text += chunk.token;
      chunks += 1;
    }
  }
  await call.status;
  return { text, chunks, final };
}

/** Reads one counter/gauge value from the service's registry (labels must match exactly). */
export async function metricValue(
  service: DraftService,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = service.running.registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  let total = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want) && !('le' in l)) total += v.value;
  }
  return total;
}

/** Rejects unless the promise fails with this gRPC status code name; returns the error. */
export async function rpcFailure(p: Promise<unknown>, code: string): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof RpcError) || e.code !== code) throw e;
    return e;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

/** Waits (without a time bound of its own) until `check` holds; the test timeout is the limit. */
export async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
}
