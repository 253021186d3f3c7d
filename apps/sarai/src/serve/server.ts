import type { LoopResult, OmniLoop, SkillPool } from '@sarai/loop-core';
import {
  fastify,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorBody, failureOf, serverError, type ApiFailure } from './api-error.js';
import { bearerMatches } from './auth.js';
import { parseChatRequest } from './chat-request.js';
import { chunk, completion, iterationRecord, loopRecord, pieces } from './chat-response.js';
import { ClientLimiter } from './client-limiter.js';
import { createServeMetrics, type ServeMetrics } from './metrics.js';

/** What the server needs of an open session (see openSession). */
export interface ServeSession {
  loop: OmniLoop;
  pool: SkillPool;
  /** A local fallback draft model is configured (then the server is ready even with the draft skill down). */
  hasFallbackDraft: boolean;
  /** Fingerprint of the key signing reflection prompts. */
  fingerprint: string;
  logger: Logger;
}

export interface ServeOptions {
  /** Required as `Authorization: Bearer KEY` on /v1/* when set. */
  apiKey?: string;
  /** Chat completions in flight per client address; more → 429 with Retry-After. Default 4. */
  maxConcurrentPerClient?: number;
  /** Largest request body (bytes). Default 16 MiB (a base64 image of ~12 MiB). */
  bodyLimit?: number;
  /** Largest max_tokens a request may ask for. Default 4096. */
  maxTokensLimit?: number;
  /** Model id of the loop (GET /v1/models). Default "sarai". */
  modelId?: string;
  /** Seconds a client should wait after a 429. Default 1. */
  retryAfterSeconds?: number;
  /** Where HTTP/process metrics go. Default: the loop's registry (one /metrics with the loop's metrics). */
  registry?: Registry;
}

export interface ServeApp {
  app: FastifyInstance;
  metrics: ServeMetrics;
  /** Stops accepting work (readyz 503, new chats 503), waits for in-flight answers up to `graceMs`, then cancels the rest. */
  drain(graceMs: number): Promise<void>;
}

const SKILLS = ['draft', 'image'] as const;

function send(reply: FastifyReply, f: ApiFailure): FastifyReply {
  if (f.headers) void reply.headers(f.headers);
  return reply.code(f.status).type('application/json').send(errorBody(f));
}

/**
 * The OpenAI-compatible HTTP API of the Omni-Loop: POST /v1/chat/completions (JSON or SSE), GET /v1/models,
 * /healthz, /readyz, /metrics. See the README ("sarai serve") for the stream format and the `sarai` extension.
 */
export async function createServeApp(session: ServeSession, opts: ServeOptions = {}): Promise<ServeApp> {
  const modelId = opts.modelId ?? 'sarai';
  const maxTokens = opts.maxTokensLimit ?? 4096;
  const limiter = new ClientLimiter(opts.maxConcurrentPerClient ?? 4);
  const metrics = createServeMetrics(opts.registry ?? session.loop.registry, session.pool, SKILLS);
  const inFlight = new Set<AbortController>();
  let draining = false;
  for (const s of SKILLS) session.pool.get(s); // start watching health now (readyz)

  const app = fastify({
    loggerInstance: session.logger as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit ?? 16 * 1024 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: false,
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.request(
      req.routeOptions.url ?? 'unmatched',
      req.method,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  app.setErrorHandler((err, _req, reply) => {
    const f = failureOf(err);
    if (f.status >= 500) session.logger.error({ err }, 'request failed');
    return send(reply, f);
  });
  app.setNotFoundHandler((req, reply) =>
    send(reply, {
      status: 404,
      type: 'invalid_request_error',
      code: 'unknown_url',
      param: null,
      message: `no route ${req.method} ${req.url}: this server has POST /v1/chat/completions, GET /v1/models, /healthz, /readyz, /metrics`,
    }),
  );

  const authorized = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (!opts.apiKey || bearerMatches(req.headers.authorization, opts.apiKey)) return true;
    metrics.rejected.inc({ reason: 'auth' });
    void send(reply, {
      status: 401,
      type: 'authentication_error',
      code: 'invalid_api_key',
      param: null,
      message: req.headers.authorization
        ? 'the API key is not valid'
        : 'missing API key: send "Authorization: Bearer <key>" (the key in SARAI_API_KEY_FILE or SARAI_API_KEY)',
    });
    return false;
  };

  let adapterCache: { at: number; names: string[]; active: string } | undefined;
  const adapters = async (): Promise<{ names: string[]; active: string }> => {
    if (adapterCache && Date.now() - adapterCache.at < 5_000) return adapterCache;
    try {
      const r = await session.pool.get('draft').conn.skill.listAdapters({}, { timeout: 2_000 }).response;
      adapterCache = { at: Date.now(), names: r.adapters.map((a) => a.name), active: r.active };
    } catch {
      adapterCache = { at: Date.now(), names: [], active: '' };
    }
    return adapterCache;
  };
  const ready = () =>
    !draining && (session.pool.get('draft').health === 'SERVING' || session.hasFallbackDraft);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const draft = session.pool.get('draft');
    const body = {
      ready: ready(),
      draining,
      draft: { health: draft.health, breaker: draft.breakerState },
      fallback_draft: session.hasFallbackDraft,
    };
    return reply.code(body.ready ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.get('/v1/models', async (req, reply) => {
    if (!authorized(req, reply)) return reply;
    const a = await adapters();
    const created = Math.floor(Date.now() / 1000);
    return {
      object: 'list',
      data: [
        { id: modelId, object: 'model', created, owned_by: 'sarai', sarai: { adapter: a.active || null } },
        ...a.names.map((n) => ({
          id: `${modelId}/${n}`,
          object: 'model',
          created,
          owned_by: 'sarai',
          sarai: { adapter: n, active: n === a.active },
        })),
      ],
    };
  });

  app.post('/v1/chat/completions', async (req, reply) => {
    if (!authorized(req, reply)) return reply;
    if (draining) {
      metrics.rejected.inc({ reason: 'draining' });
      return send(reply, {
        ...serverError(503, 'the server is shutting down: retry on another instance'),
        headers: { 'Retry-After': '1' },
      });
    }
    const parsed = parseChatRequest(req.body, { maxTokens });
    if (!parsed.ok) return send(reply, parsed.error);
    const chat = parsed.value;
    let adapter: string | undefined;
    if (chat.model !== modelId) {
      const a = chat.model.startsWith(`${modelId}/`) ? chat.model.slice(modelId.length + 1) : undefined;
      if (a === undefined || !(await adapters()).names.includes(a)) {
        return send(reply, {
          status: 404,
          type: 'invalid_request_error',
          code: 'model_not_found',
          param: 'model',
          message: `the model "${chat.model}" does not exist: GET /v1/models lists "${modelId}" and its adapters`,
        });
      }
      adapter = a;
    }
    const release = limiter.acquire(req.ip);
    if (!release) {
      metrics.rejected.inc({ reason: 'rate_limit' });
      const retry = String(opts.retryAfterSeconds ?? 1);
      return send(reply, {
        status: 429,
        type: 'rate_limit_error',
        code: 'concurrency_limit_exceeded',
        param: null,
        message: `too many concurrent requests from this client (limit ${limiter.max}): retry after ${retry} s`,
        headers: { 'Retry-After': retry },
      });
    }
    const ac = new AbortController();
    inFlight.add(ac);
    metrics.inFlight.inc();
    let finished = false;
    reply.raw.once('close', () => {
      if (!finished && !reply.raw.writableFinished) {
        metrics.cancelled.inc();
        ac.abort();
      }
    });
    const done = () => {
      finished = true;
      inFlight.delete(ac);
      metrics.inFlight.dec();
      release();
    };
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const run = { ...chat.run, signal: ac.signal, ...(adapter ? { adapter } : {}) };

    if (!chat.stream) {
      try {
        const r = await session.loop.run(chat.prompt, run);
        return reply.send(completion(id, chat.model, created, r, session.fingerprint));
      } catch (e) {
        if (ac.signal.aborted) return reply; // the client is gone
        throw e;
      } finally {
        done();
      }
    }

    // Stream: role chunk, one progress chunk per loop iteration (empty delta + `sarai.event`), the chosen answer's
    // content in pieces, a final chunk with finish_reason and the loop record, then [DONE].
    void reply.hijack();
    const t0 = performance.now();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const write = (data: unknown) => {
      if (!res.destroyed) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    };
    write(chunk(id, chat.model, created, { role: 'assistant', content: '' }));
    let status = 200;
    try {
      const r: LoopResult = await session.loop.run(chat.prompt, {
        ...run,
        onIteration: (it) =>
          write(
            chunk(id, chat.model, created, {}, null, {
              event: 'iteration',
              ...iterationRecord(it, session.fingerprint),
            }),
          ),
      });
      for (const p of pieces(r.text)) write(chunk(id, chat.model, created, { content: p }));
      write(
        chunk(id, chat.model, created, {}, 'stop', { event: 'done', ...loopRecord(r, session.fingerprint) }),
      );
      write('[DONE]');
    } catch (e) {
      if (!ac.signal.aborted) {
        const f = failureOf(e);
        status = f.status;
        if (f.status >= 500) session.logger.error({ err: e }, 'stream failed');
        write(errorBody(f));
      } else status = 499;
    } finally {
      done();
      res.end();
      metrics.request('/v1/chat/completions', 'POST', status, (performance.now() - t0) / 1000);
    }
    return reply;
  });

  return {
    app,
    metrics,
    async drain(graceMs: number) {
      draining = true;
      const closing = app.close();
      const timer = setTimeout(() => {
        for (const ac of inFlight) ac.abort();
      }, graceMs);
      timer.unref();
      await closing;
      clearTimeout(timer);
    },
  };
}
