import { jsonSchemaChecker } from '@sarai/loop-core';
import OpenAI from 'openai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../io.js';
import { openSession, type Session } from '../session.js';
import type { LoopRecord } from './chat-response.js';
import { createServeApp, type ServeApp, type ServeOptions } from './server.js';

// `sarai serve` over real embedded skills (skill processes with the generated tiny model), called with the official
// OpenAI client. The draft skill ignores EOS so generations run to max_tokens: long ones stay in flight on purpose.

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAABlElEQVR4nBWRURFEMQjEkFAJSKgEJFQCEiohEiqhEpCAhEpAAhLuHt87THYjIgxBhSmYsAQXtoBwhCuEkMITSmhBZDAGOpgDG6yBD/aAwRncQQxy8AY16IGIMhRVpmLKUlzZCspRrhJKKk8ppRWRyZjoZE5ssiY+2RMmZ3InMcnJm9SkJyLGMNSYhhnLcGMbGMe4RhhpPKOMNkQWY6GLubDFWvhiL1icxV3EIhdvUYteiDjDUWc65izHne3gHOc64aTznHLaEdmMjW7mxjZr45u9YXM2dxOb3LxNbXoj8g2IfiWxDwT/wt8duBCQ8KCg/3rkMA56mAc7rIMf9vni53APccjDO9Shz9/DZVz0Mi92WRe/7Ps9P5d7iUte3qUuff8eghFoMAMLVuDBjg/lBDeIIIMXVNDx95CMRJOZWLIST3Z+4Ce5SSSZvKSSzr+Hx3joYz7ssR7+2O+reR73EY98vEc9+v09FKPQYhZWrMKLXd8op7hFFFm8ooquv4dmNNrMxprVeLP7m/A0t4kmm9dU080PiAJwEDqK72wAAAAASUVORK5CYII=';

let dir: string;
let session: Session;
const servers: ServeApp[] = [];

async function serve(opts: ServeOptions): Promise<{ url: string; client: OpenAI; app: ServeApp }> {
  const app = await createServeApp(
    {
      loop: session.loop,
      pool: session.pool,
      hasFallbackDraft: Boolean(session.fallback.draft),
      fingerprint: session.signer.fingerprint,
      logger: session.logger,
    },
    opts,
  );
  servers.push(app);
  const url = await app.app.listen({ host: '127.0.0.1', port: 0 });
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: opts.apiKey ?? 'unused', maxRetries: 0 });
  return { url, client, app };
}

type WithRecord<T> = T & { sarai: LoopRecord };
type Params = OpenAI.ChatCompletionCreateParamsNonStreaming & {
  sarai?: { iterations?: number; threshold?: number };
};

let main: Awaited<ReturnType<typeof serve>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sarai-serve-'));
  const io: Io = {
    stdout: () => undefined,
    stderr: () => undefined,
    env: {
      ...process.env,
      SARAI_STATE_DIR: join(dir, 'state'),
      LOG_LEVEL: 'error',
      IGNORE_EOS: 'true',
      THREADS: '1', // the draft skill shares 2 cores with this test
    },
    cwd: dir,
    isTTY: false,
  };
  // generous draft deadline: this box may be busy, and a slow draft would (rightly) go to the fallback
  session = await openSession(io, { embedded: true, embeddedMetrics: true, draftDeadlineMs: 60_000 });
  main = await serve({ apiKey: 'test-key' });
});

afterAll(async () => {
  for (const s of servers) await s.drain(0);
  await session?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sarai serve: OpenAI-compatible chat completions', () => {
  it('answers a chat with the loop record (iterations, signed reflections) in the `sarai` extension', async () => {
    const params: Params = {
      model: 'sarai',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'text', text: 'Why is the sky blue?' }] },
      ],
      max_tokens: 12,
      seed: 7,
      sarai: { iterations: 2, threshold: 1 },
    };
    const r = (await main.client.chat.completions.create(params)) as WithRecord<OpenAI.ChatCompletion>;
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]?.message.role).toBe('assistant');
    expect(typeof r.choices[0]?.message.content).toBe('string');
    expect(r.choices[0]?.finish_reason).toBe('stop');
    expect(r.sarai.iterations).toHaveLength(2);
    expect(r.sarai.iterations.map((i) => i.source)).toEqual(['skill', 'skill']);
    expect(r.sarai.iterations[0]?.signature).toBeNull();
    expect(r.sarai.iterations[1]?.signature).toMatchObject({
      fingerprint: session.signer.fingerprint,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(r.sarai).toMatchObject({ stop_reason: 'max-iterations', fallback_used: false });
    expect(r.sarai.iterations[0]?.confidence).toBeGreaterThanOrEqual(0);

    const models = await main.client.models.list();
    expect(models.data.map((m) => m.id)).toContain('sarai');
  });

  it('streams progress per iteration, then the answer: concatenated content equals the non-streamed answer', async () => {
    const params: Params = {
      model: 'sarai',
      messages: [{ role: 'user', content: 'Name a colour.' }],
      max_tokens: 10,
      seed: 11,
      temperature: 0.8,
      sarai: { iterations: 2, threshold: 1 },
    };
    const plain = (await main.client.chat.completions.create(params)) as WithRecord<OpenAI.ChatCompletion>;
    const stream = await main.client.chat.completions.create({ ...params, stream: true });
    let content = '';
    const events: string[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      content += c.choices[0]?.delta.content ?? '';
      const ext = (c as unknown as { sarai?: { event: string } }).sarai;
      if (ext) events.push(ext.event);
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(content).toBe(plain.choices[0]?.message.content);
    expect(events).toEqual(['iteration', 'iteration', 'done']);
    expect(finish).toBe('stop');
  });

  it('response_format json_schema: the draft is grammar-constrained and the answer matches the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 12 },
        age: { type: 'integer' },
        tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 2 },
        kind: { enum: ['a', 'b'] },
      },
      required: ['name', 'age', 'kind'],
      additionalProperties: false,
    };
    const r = (await main.client.chat.completions.create({
      model: 'sarai',
      messages: [{ role: 'user', content: 'Describe a person as JSON.' }],
      max_tokens: 120,
      seed: 3,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema } },
      sarai: { iterations: 1 },
    } as Params)) as WithRecord<OpenAI.ChatCompletion>;
    const value: unknown = JSON.parse(r.choices[0]?.message.content ?? '');
    expect(await jsonSchemaChecker(schema).check(JSON.stringify(value), { prompt: '' })).toMatchObject({
      pass: true,
    });
    expect(r.sarai.iterations[0]?.checks).toEqual([{ checker: 'person', pass: true, feedback: 'ok' }]);
  });

  it('an image_url data: URL goes through skill-image', async () => {
    const r = (await main.client.chat.completions.create({
      model: 'sarai',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
          ],
        },
      ],
      max_tokens: 8,
      sarai: { iterations: 1 },
    } as Params)) as WithRecord<OpenAI.ChatCompletion>;
    expect(r.sarai.image).toMatchObject({ width: 16, height: 16, source: 'skill' });
    expect(r.sarai.image?.perceptualHash).toMatch(/^[0-9a-f]+$/);
  });
});

describe('sarai serve: errors are OpenAI-shaped', () => {
  it('bad API key, unknown model and a bad body: right status, type, param and code', async () => {
    const anon = new OpenAI({ baseURL: `${main.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(anon.models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });

    const badModel = main.client.chat.completions.create({
      model: 'gpt-9',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await expect(badModel).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(badModel).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });

    const badBody = main.client.chat.completions.create({ model: 'sarai', messages: [] });
    await expect(badBody).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(badBody).rejects.toMatchObject({
      status: 400,
      param: 'messages',
      error: { type: 'invalid_request_error', message: expect.stringMatching(/non-empty array/) },
    });
    const badTemp = main.client.chat.completions.create({
      model: 'sarai',
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 9,
    });
    await expect(badTemp).rejects.toMatchObject({ status: 400, param: 'temperature' });
    const remoteImage = main.client.chat.completions.create({
      model: 'sarai',
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
      ],
    });
    await expect(remoteImage).rejects.toMatchObject({ status: 400, code: 'invalid_image_url' });
  });

  it('an oversize body is 413; a client over its concurrency limit gets 429 with Retry-After', async () => {
    const small = await serve({ bodyLimit: 4096, maxConcurrentPerClient: 1, registry: new Registry() });
    const big = small.client.chat.completions.create({
      model: 'sarai',
      messages: [{ role: 'user', content: 'x'.repeat(10_000) }],
    });
    await expect(big).rejects.toMatchObject({ status: 413, code: 'request_too_large' });

    // one long answer in flight (the role chunk arrives at once; the draft runs to max_tokens), then a second request
    const first = await small.client.chat.completions.create({
      model: 'sarai',
      messages: [{ role: 'user', content: 'Write a long story.' }],
      max_tokens: 1000,
      stream: true,
      sarai: { iterations: 3, threshold: 1 },
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    const it1 = first[Symbol.asyncIterator]();
    await it1.next();
    const second = await small.client.chat.completions
      .create({ model: 'sarai', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })
      .withResponse()
      .catch((e: unknown) => e);
    expect(second).toBeInstanceOf(OpenAI.RateLimitError);
    expect(second).toMatchObject({ status: 429, code: 'concurrency_limit_exceeded' });
    expect((second as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('1');
    first.controller.abort();
  });
});

/** A sample of the embedded draft skill's Prometheus metrics (sum over label sets matching `labels`). */
async function draftMetric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://${session.deployment.metricsAddresses?.['draft']}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    if ((m[1] ?? '').includes(labels)) sum += Number(m[2]);
  }
  return sum;
}

describe('sarai serve: cancellation', () => {
  it('a client that disconnects mid-stream cancels the loop and the draft generation: the sequence is freed', async () => {
    // earlier tests' cancelled streams have finished on the skill
    await expect
      .poll(() => draftMetric('sarai_draft_active_generations'), { timeout: 30_000, interval: 50 })
      .toBe(0);
    const cancelledBefore = await draftMetric('sarai_draft_generations_total', 'finish_reason="cancelled"');
    const ac = new AbortController();
    const stream = await main.client.chat.completions.create(
      {
        model: 'sarai',
        messages: [{ role: 'user', content: 'Write a very long story.' }],
        max_tokens: 1000,
        stream: true,
        sarai: { iterations: 1 },
      } as OpenAI.ChatCompletionCreateParamsStreaming,
      { signal: ac.signal },
    );
    await stream[Symbol.asyncIterator]().next(); // the role chunk: the loop is running
    await expect
      .poll(() => draftMetric('sarai_draft_active_generations'), { timeout: 60_000, interval: 20 })
      .toBe(1);
    ac.abort();
    await expect
      .poll(() => draftMetric('sarai_draft_active_generations'), { timeout: 30_000, interval: 50 })
      .toBe(0);
    expect(await draftMetric('sarai_draft_generations_total', 'finish_reason="cancelled"')).toBe(
      cancelledBefore + 1,
    );
    const host = await (await fetch(`${main.url}/metrics`)).text();
    expect(host).toMatch(/^sarai_http_cancelled_total [1-9]/m);
    // the draft skill serves the next request at once
    const next = (await main.client.chat.completions.create({
      model: 'sarai',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
      sarai: { iterations: 1 },
    } as Params)) as WithRecord<OpenAI.ChatCompletion>;
    expect(next.sarai.fallback_used).toBe(false);
  });
});

describe('sarai serve: shutdown and failures', () => {
  it('drain lets an in-flight stream finish (with [DONE]) before the server closes', async () => {
    const s = await serve({ registry: new Registry() });
    const stream = await s.client.chat.completions.create({
      model: 'sarai',
      messages: [{ role: 'user', content: 'Tell me a story.' }],
      max_tokens: 64,
      stream: true,
      sarai: { iterations: 1 },
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const drained = s.app.drain(120_000);
    let finish: string | null = null;
    for (let c = await it.next(); !c.done; c = await it.next())
      finish = c.value.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe('stop');
    await drained;
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });

  it('with the draft skill stopped, the loop answers through the local fallback and the server stays ready', async () => {
    const [draftPid] = session.deployment.skillPids();
    process.kill(draftPid as number, 'SIGKILL');
    while (session.pool.get('draft').health === 'SERVING') await new Promise((r) => setTimeout(r, 50));
    const r = (await main.client.chat.completions.create({
      model: 'sarai',
      messages: [{ role: 'user', content: 'Are you there?' }],
      max_tokens: 8,
      sarai: { iterations: 1 },
    } as Params)) as WithRecord<OpenAI.ChatCompletion>;
    expect(r.sarai.fallback_used).toBe(true);
    expect(r.sarai.iterations[0]?.source).toBe('fallback');
    const ready = await fetch(`${main.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, fallback_draft: true });
    const metrics = await (await fetch(`${main.url}/metrics`)).text();
    expect(metrics).toMatch(/^sarai_loop_fallback_total\{skill="draft"\} [1-9]/m);
    expect(metrics).toMatch(/^sarai_skill_serving\{skill="draft"\} 0/m);
    expect(metrics).toMatch(
      /^sarai_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\} [1-9]/m,
    );
    expect(metrics).toMatch(/^sarai_host_process_resident_memory_bytes [1-9]/m);
  });
});
