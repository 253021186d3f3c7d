import { RpcError, grpcHealthV1, HealthCheckResponse_ServingStatus, ImageReq } from '@sarai/proto';
import { createLogger } from '@sarai/skill-runtime';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_LORA } from './test-support/models.js';
import {
  collectStream,
  genReq,
  metricValue,
  startTestServer,
  type TestServer,
} from './test-support/server.js';

const SERVING = grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING;
const NOT_SERVING = grpcHealthV1.HealthCheckResponse_ServingStatus.NOT_SERVING;

/** Rejects unless the promise fails with this gRPC status; returns the error. */
async function rpcFailure(p: Promise<unknown>, code: string): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    expect((e as RpcError).code).toBe(code);
    return e as RpcError;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

/** Waits (without a time bound of its own) until `check` holds; the test timeout is the limit. */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
}

// A bounded JSON object grammar: every completion is a complete JSON document.
const JSON_GRAMMAR = String.raw`
root   ::= "{" ws "\"name\"" ws ":" ws string "," ws "\"score\"" ws ":" ws number ws "}"
string ::= "\"" [a-z ]{1,12} "\""
number ::= "-"? [0-9]{1,4} ("." [0-9]{1,3})?
ws     ::= [ ]?
`;

describe('draft service on loopback (tiny model)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ MAX_CONCURRENT: '4', MAX_QUEUE: '8', ADAPTERS: `v1=${TINY_LORA}` });
  });
  afterAll(async () => s?.close());

  it('Generate returns the text and this request’s statistics', async () => {
    const { response: r } = await s.conn.skill.generate(
      genReq({ prompt: 'Once upon a time', maxTokens: 24, seed: 1, temperature: 0.7 }),
    );
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.tokensGenerated).toBe(24);
    expect(r.finishReason).toBe('length');
    expect(r.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(r.tokensPerSecond).toBe(Math.round(r.decodeTokensPerSecond));
    expect(r.ramMb).toBeGreaterThan(10);
    expect(r.model).toBe('sarai-tiny-q8_0-s1');
    expect(r.adapter).toBe('');
    expect(r.promptTokensEvaluated + r.promptTokensReused).toBeGreaterThan(0);
  });

  it('honours max_tokens exactly', async () => {
    for (const n of [1, 7, 64]) {
      const { response: r } = await s.conn.skill.generate(
        genReq({ prompt: `count ${n}`, maxTokens: n, temperature: 0.9, seed: n }),
      );
      expect(r.tokensGenerated).toBe(n);
      expect(r.finishReason).toBe('length');
    }
  });

  it('GenerateStream chunks concatenate to the text Generate gives for the same seed', async () => {
    const req = genReq({ prompt: 'The draft says', maxTokens: 48, temperature: 0.8, seed: 1234 });
    const stream = await collectStream(s.conn, req);
    const { response: unary } = await s.conn.skill.generate(req);
    expect(stream.chunks).toBeGreaterThan(1);
    expect(stream.text).toBe(unary.text);
    expect(stream.final?.text).toBe(unary.text);
    expect(stream.final?.tokensGenerated).toBe(48);
    // A different seed gives a different continuation (the seed is really used).
    const { response: other } = await s.conn.skill.generate({ ...req, seed: 4321 });
    expect(other.text).not.toBe(unary.text);
  });

  it('stop strings end the output right before the stop, also when the stop spans tokens', async () => {
    const base = genReq({ prompt: 'A list of things:', maxTokens: 64, temperature: 0.8, seed: 99 });
    // Reference run, token by token (stream pieces).
    const pieces: string[] = [];
    for await (const c of s.conn.skill.generateStream(base).responses) if (!c.final) pieces.push(c.token);
    const reference = pieces.join('');
    // A stop made of the end of one piece and the start of the next, somewhere in the middle.
    let k = Math.floor(pieces.length / 2);
    while (
      k < pieces.length - 1 &&
      ((pieces[k] as string).length < 1 || (pieces[k + 1] as string).length < 1)
    )
      k++;
    const stop = (pieces[k] as string).slice(-2) + (pieces[k + 1] as string).slice(0, 2);
    const expected = reference.slice(0, reference.indexOf(stop));

    const { response: unary } = await s.conn.skill.generate({ ...base, stop: [stop, 'never-occurs-§'] });
    expect(unary.finishReason).toBe('stop');
    expect(unary.text).toBe(expected);
    expect(unary.text).not.toContain(stop);

    const streamed = await collectStream(s.conn, { ...base, stop: [stop] });
    expect(streamed.text).toBe(expected);
    expect(streamed.final?.finishReason).toBe('stop');
  });

  it('a JSON grammar constrains the output to JSON that parses', async () => {
    for (const seed of [1, 2, 3]) {
      const { response: r } = await s.conn.skill.generate(
        genReq({ prompt: 'Answer in JSON:', maxTokens: 80, temperature: 1, seed, grammar: JSON_GRAMMAR }),
      );
      expect(r.finishReason).toBe('grammar');
      const doc = JSON.parse(r.text) as { name: unknown; score: unknown };
      expect(typeof doc.name).toBe('string');
      expect(typeof doc.score).toBe('number');
    }
  });

  it('fills mean/min log-probabilities when asked', async () => {
    const { response: r } = await s.conn.skill.generate(
      genReq({ prompt: 'Confidence', maxTokens: 20, logprobs: true }),
    );
    expect(r.meanLogprob).toBeLessThanOrEqual(0);
    expect(r.minLogprob).toBeLessThanOrEqual(r.meanLogprob);
    expect(Number.isFinite(r.minLogprob)).toBe(true);
    const { response: none } = await s.conn.skill.generate(genReq({ prompt: 'Confidence', maxTokens: 20 }));
    expect(none.meanLogprob).toBe(0);
    expect(none.minLogprob).toBe(0);
  });

  it('reuses the prompt + output prefix of a reflection-shaped follow-up', async () => {
    const reusedBefore = await metricValue(s.service, 'sarai_draft_prompt_tokens_total', { kind: 'reused' });
    const prompt = '<|im_start|>user\nWrite a haiku about gRPC.<|im_end|>\n<|im_start|>assistant\n';
    const { response: first } = await s.conn.skill.generate(
      genReq({ prompt, maxTokens: 40, temperature: 0.7, seed: 5 }),
    );
    const followUp = `${prompt}${first.text}<|im_end|>\n<|im_start|>user\nCritique and improve it.<|im_end|>\n<|im_start|>assistant\n`;
    const { response: second } = await s.conn.skill.generate(genReq({ prompt: followUp, maxTokens: 8 }));
    const total = second.promptTokensEvaluated + second.promptTokensReused;
    expect(second.promptTokensReused).toBeGreaterThan(first.promptTokensEvaluated + first.promptTokensReused);
    expect(second.promptTokensEvaluated).toBeLessThan(total / 2);
    const reusedAfter = await metricValue(s.service, 'sarai_draft_prompt_tokens_total', { kind: 'reused' });
    expect(reusedAfter - reusedBefore).toBeGreaterThanOrEqual(second.promptTokensReused);
  });

  it('serves concurrent requests on shared sequences, queueing what does not fit, and all complete', async () => {
    const calls = Array.from(
      { length: 7 },
      (_, i) =>
        s.conn.skill.generate(
          genReq({ prompt: `Parallel request ${i}`, maxTokens: 32, temperature: 0.5, seed: i }),
        ).response,
    );
    const replies = await Promise.all(calls);
    for (const r of replies) {
      expect(r.tokensGenerated).toBe(32);
      expect(r.finishReason).toBe('length');
    }
  });

  it('serves LoRA variants from ADAPTERS per request', async () => {
    const req = genReq({ prompt: 'Adapters change the output', maxTokens: 24 });
    const { response: base } = await s.conn.skill.generate(req);
    const { response: tuned } = await s.conn.skill.generate({ ...req, adapter: 'v1' });
    expect(base.adapter).toBe('');
    expect(tuned.adapter).toBe('v1');
    expect(tuned.text).not.toBe(base.text);
    const e = await rpcFailure(s.conn.skill.generate({ ...req, adapter: 'v9' }).response, 'NOT_FOUND');
    expect(e.message).toContain('v1');
  });

  it('swaps an adapter variant blue/green while a generation on the old one finishes', async () => {
    const engine = s.service.engine;
    if (!engine) throw new Error('engine not loaded');
    const req = genReq({ prompt: 'Hot swap', maxTokens: 16 });
    const before = (await s.conn.skill.generate({ ...req, adapter: 'v1' })).response;
    const inflight = collectStream(s.conn, { ...req, maxTokens: 200, adapter: 'v1' });
    await until(() => engine.running > 0);
    // v1 now serves the base model (no adapter files): new requests see the new context at once.
    await Promise.all([
      engine.setAdapter('v1', []),
      inflight.then((r) => expect(r.final?.tokensGenerated).toBe(200)),
    ]);
    const after = (await s.conn.skill.generate({ ...req, adapter: 'v1' })).response;
    const base = (await s.conn.skill.generate(req)).response;
    expect(after.adapter).toBe('v1');
    expect(after.text).toBe(base.text);
    expect(before.text).not.toBe(base.text);
    await engine.setAdapter('v1', [{ path: TINY_LORA, scale: 1 }]);
    expect((await s.conn.skill.generate({ ...req, adapter: 'v1' })).response.text).toBe(before.text);
  });

  it('answers bad input with clear status codes and keeps serving', async () => {
    const g = s.conn.skill;
    expect(
      (await rpcFailure(g.generate(genReq({ prompt: '' })).response, 'INVALID_ARGUMENT')).message,
    ).toMatch(/prompt is empty/);
    for (const maxTokens of [0, -5, 1_000_000_000]) {
      const e = await rpcFailure(g.generate(genReq({ prompt: 'x', maxTokens })).response, 'INVALID_ARGUMENT');
      expect(e.message).toMatch(/max_tokens must be between 1 and 4000/);
    }
    const bad = await rpcFailure(
      g.generate(genReq({ prompt: 'x', grammar: 'root ::= "a" foo' })).response,
      'INVALID_ARGUMENT',
    );
    expect(bad.message).toContain("Undefined rule identifier 'foo'");
    const rec = await rpcFailure(
      g.generate(genReq({ prompt: 'x', grammar: 'root ::= root "a" | "b"' })).response,
      'INVALID_ARGUMENT',
    );
    expect(rec.message).toMatch(/left recursion/);
    const long = await rpcFailure(
      g.generate(genReq({ prompt: 'word '.repeat(3000) })).response,
      'INVALID_ARGUMENT',
    );
    expect(long.message).toMatch(/CONTEXT_SIZE/);
    await rpcFailure(g.generate(genReq({ prompt: 'x', temperature: -1 })).response, 'INVALID_ARGUMENT');
    await rpcFailure(g.generate(genReq({ prompt: 'x', stop: [''] })).response, 'INVALID_ARGUMENT');
    await rpcFailure(collectStream(s.conn, genReq({ prompt: '' })), 'INVALID_ARGUMENT');
    const { response: ok } = await g.generate(genReq({ prompt: 'still here?', maxTokens: 4 }));
    expect(ok.tokensGenerated).toBe(4);
  });

  it('answers UNIMPLEMENTED for the image methods', async () => {
    await rpcFailure(
      s.conn.skill.preprocessImage(ImageReq.create({ imageData: new Uint8Array([1]) })).response,
      'UNIMPLEMENTED',
    );
    await rpcFailure(s.conn.skill.imageCacheStats({}).response, 'UNIMPLEMENTED');
  });

  it('exposes Prometheus metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${s.service.running.metricsPort}/metrics`);
    const body = await res.text();
    for (const name of [
      'sarai_grpc_requests_total{method="Generate",code="OK"',
      'sarai_grpc_request_duration_seconds_bucket',
      'sarai_draft_tokens_generated_total',
      'sarai_draft_decode_tokens_per_second_bucket',
      'sarai_draft_prompt_tokens_total{kind="reused"',
      'sarai_draft_queue_depth',
      'sarai_draft_active_generations',
      'sarai_draft_model_load_seconds',
      'sarai_process_rss_bytes',
    ]) {
      expect(body).toContain(name);
    }
  });
});

describe('admission, deadlines and cancellation (one sequence)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ MAX_CONCURRENT: '1', MAX_QUEUE: '1' });
  });
  afterAll(async () => s?.close());

  const idle = () => s.service.engine?.running === 0;

  it('fails fast with RESOURCE_EXHAUSTED when the queue is full', async () => {
    const abort = new AbortController();
    const first = s.conn.skill.generateStream(genReq({ prompt: 'long one', maxTokens: 4000 }), {
      abort: abort.signal,
    });
    const it1 = first.responses[Symbol.asyncIterator]();
    await it1.next(); // running: it holds the only sequence
    const second = s.conn.skill.generate(genReq({ prompt: 'queued', maxTokens: 4 }));
    await until(() => s.service.engine?.queued === 1);
    const e = await rpcFailure(
      s.conn.skill.generate(genReq({ prompt: 'rejected', maxTokens: 4 })).response,
      'RESOURCE_EXHAUSTED',
    );
    expect(e.message).toMatch(/MAX_QUEUE=1/);
    abort.abort();
    await first.status.catch(() => undefined);
    const response = await second.response;
    expect(response.tokensGenerated).toBe(4);
  });

  it('a client deadline stops the generation and frees the sequence', async () => {
    await until(idle);
    const before = await metricValue(s.service, 'sarai_draft_generations_total', {
      finish_reason: 'cancelled',
    });
    const tokensBefore = await metricValue(s.service, 'sarai_draft_tokens_generated_total');
    await rpcFailure(
      s.conn.skill.generate(genReq({ prompt: 'too slow', maxTokens: 4000 }), { timeout: 100 }).response,
      'DEADLINE_EXCEEDED',
    );
    await until(
      async () =>
        (await metricValue(s.service, 'sarai_draft_generations_total', { finish_reason: 'cancelled' })) >
        before,
    );
    expect(await metricValue(s.service, 'sarai_draft_tokens_generated_total')).toBeLessThan(
      tokensBefore + 4000,
    );
    await until(idle);
    const { response } = await s.conn.skill.generate(genReq({ prompt: 'next', maxTokens: 3 }));
    expect(response.tokensGenerated).toBe(3);
  });

  it('cancelling a stream stops the generation and frees the sequence', async () => {
    await until(idle);
    const before = await metricValue(s.service, 'sarai_draft_generations_total', {
      finish_reason: 'cancelled',
    });
    const abort = new AbortController();
    const call = s.conn.skill.generateStream(genReq({ prompt: 'cancel me', maxTokens: 4000 }), {
      abort: abort.signal,
    });
    const iter = call.responses[Symbol.asyncIterator]();
    await iter.next();
    abort.abort();
    await expect(call.status).rejects.toBeInstanceOf(RpcError);
    await until(
      async () =>
        (await metricValue(s.service, 'sarai_draft_generations_total', { finish_reason: 'cancelled' })) >
        before,
    );
    await until(idle);
    const { response } = await s.conn.skill.generate(genReq({ prompt: 'after cancel', maxTokens: 3 }));
    expect(response.tokensGenerated).toBe(3);
  });
});

describe('health and lifecycle', () => {
  it('is NOT_SERVING while the model loads, SERVING after, and drains in-flight calls on shutdown', async () => {
    const s = await startTestServer({}, { load: false });
    try {
      const check = async () => (await s.conn.grpcHealth.check({ service: '' })).response.status;
      expect(await check()).toBe(NOT_SERVING);
      expect((await s.conn.health.check({ service: '' })).response.status).toBe(
        HealthCheckResponse_ServingStatus.NOT_SERVING,
      );
      await rpcFailure(s.conn.skill.generate(genReq({ prompt: 'too early' })).response, 'UNAVAILABLE');

      await s.service.load();
      expect(await check()).toBe(SERVING);
      expect((await s.conn.health.check({ service: 'skills.Skill' })).response.status).toBe(
        HealthCheckResponse_ServingStatus.SERVING,
      );

      // In flight when shutdown starts: it must complete.
      const inflight = collectStream(s.conn, genReq({ prompt: 'finish me', maxTokens: 400 }));
      await until(() => s.service.engine?.running === 1);
      const stopping = s.service.shutdown('test');
      expect(await check()).toBe(NOT_SERVING);
      await rpcFailure(s.conn.skill.generate(genReq({ prompt: 'late' })).response, 'UNAVAILABLE');
      const done = await inflight;
      expect(done.final?.tokensGenerated).toBe(400);
      await stopping;
    } finally {
      s.conn.close();
      await s.service.shutdown();
    }
  });

  it('redacts prompts and outputs in logs unless LOG_PROMPTS', async () => {
    for (const logPrompts of [false, true]) {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      });
      const s = await startTestServer(
        { LOG_LEVEL: 'info', LOG_PROMPTS: String(logPrompts) },
        {
          logger: createLogger({ name: 'draft', level: 'info', logPrompts, destination }),
        },
      );
      try {
        await s.conn.skill.generate(genReq({ prompt: 'secret-prompt-42', maxTokens: 4 }));
      } finally {
        await s.close();
      }
      const generated = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l['msg'] === 'generated');
      expect(generated).toBeDefined();
      if (logPrompts) expect(generated?.['prompt']).toBe('secret-prompt-42');
      else {
        expect(generated?.['prompt']).toBe('[redacted]');
        expect(generated?.['text']).toBe('[redacted]');
        expect(lines.join('')).not.toContain('secret-prompt-42');
      }
    }
  });
});

describe('message limit', () => {
  it('rejects a request over the server’s message limit with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const s = await startTestServer(
      { SARAI_GRPC_MAX_MESSAGE_MB: '1' },
      { clientMaxMessageBytes: 8 * 1024 * 1024 },
    );
    try {
      const e = await rpcFailure(
        s.conn.skill.generate(genReq({ prompt: 'x'.repeat(2 * 1024 * 1024) })).response,
        'RESOURCE_EXHAUSTED',
      );
      expect(e.message).toMatch(/limit|larger than max/);
      const { response } = await s.conn.skill.generate(genReq({ prompt: 'small', maxTokens: 2 }));
      expect(response.tokensGenerated).toBe(2);
    } finally {
      await s.close();
    }
  });
});
