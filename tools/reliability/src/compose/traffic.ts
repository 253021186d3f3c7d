import { GenReq, ImageReq, RpcError, connectSkill } from '@sarai/proto';
import { Language, RunTestsRequest, connectSandbox } from '@sarai/sandbox-contract';
import { pictureOf } from '../crash/image-cache-writer.js';
import type { ComposeDeployment, SoakService } from './deployment.js';

/**
 * How one call ended: `ok` (answered), `refused` (refused by design: a deliberately invalid request that got its
 * 4xx / INVALID_ARGUMENT, or admission control saying RESOURCE_EXHAUSTED / 429) or `failed` (anything else).
 */
export type CallOutcome = { kind: 'ok' } | { kind: 'refused' } | { kind: 'failed'; why: string };

/** One service's callers: `call(i)` sends request number `i` (every few a deliberately invalid one). */
export interface ServiceTraffic {
  service: SoakService;
  call(i: number): Promise<CallOutcome>;
  close(): void;
}

const grpcOutcome = async (p: Promise<unknown>, invalid: boolean): Promise<CallOutcome> => {
  try {
    await p;
    return invalid ? { kind: 'failed', why: 'an invalid request was answered' } : { kind: 'ok' };
  } catch (e) {
    const code = e instanceof RpcError ? e.code : 'CLIENT';
    if (code === 'RESOURCE_EXHAUSTED' || (invalid && code === 'INVALID_ARGUMENT')) return { kind: 'refused' };
    return { kind: 'failed', why: `${code}: ${e instanceof Error ? e.message : String(e)}`.slice(0, 300) };
  }
};

/** The draft skill over its published gRPC port: short generations, every 10th an empty prompt. */
export function draftTraffic(d: ComposeDeployment): ServiceTraffic {
  const conn = connectSkill(d.draftAddress);
  return {
    service: 'skill-draft',
    call: (i) =>
      grpcOutcome(
        conn.skill.generate(
          GenReq.create({
            prompt: i % 10 === 0 ? '' : `question ${i % 50}: tell me`,
            maxTokens: 16,
            temperature: 0.7,
            seed: i,
          }),
          { timeout: 60_000 },
        ).response,
        i % 10 === 0,
      ),
    close: () => conn.close(),
  };
}

/**
 * The image skill over its published gRPC port: 40 recurring pictures at varying quality (cache hits), every 10th a
 * truncated PNG and, with `fresh`, every 10th (another one) a picture never seen before: the whole pipeline, a cache
 * write and, once the cache holds CACHE_MAX_ENTRIES, eviction — its index grows until then, by design.
 */
export async function imageTraffic(d: ComposeDeployment, fresh: boolean): Promise<ServiceTraffic> {
  const conn = connectSkill(d.imageAddress);
  const pictures = await Promise.all(Array.from({ length: 40 }, (_, i) => pictureOf(`soak-${i}`)));
  return {
    service: 'skill-image',
    call: async (i) => {
      const invalid = i % 10 === 0;
      const picture =
        fresh && i % 10 === 5
          ? await pictureOf(`soak-fresh-${i}`)
          : (pictures[i % pictures.length] as Buffer);
      return grpcOutcome(
        conn.skill.preprocessImage(
          ImageReq.create({ imageData: invalid ? picture.subarray(0, 60) : picture, quality: 50 + (i % 40) }),
          { timeout: 60_000 },
        ).response,
        invalid,
      );
    },
    close: () => conn.close(),
  };
}

/** The sandbox over its unix socket: a passing function, every 7th an infinite loop (stopped by its limits). */
export function sandboxTraffic(d: ComposeDeployment): ServiceTraffic {
  const conn = connectSandbox(d.sandboxAddress);
  return {
    service: 'skill-sandbox',
    call: (i) =>
      grpcOutcome(
        conn.client.runTests(
          RunTestsRequest.create({
            code:
              i % 7 === 0 ? 'function add(a, b) { while (true) {} }' : 'function add(a, b) { return a + b; }',
            language: Language.JAVASCRIPT,
            functionName: 'add',
            tests: [{ argsJson: `[${i % 100}, 2]`, expectedJson: String((i % 100) + 2) }],
          }),
          { timeout: 60_000 },
        ).response,
        false,
      ),
    close: () => conn.close(),
  };
}

/**
 * The host's OpenAI API (`sarai serve` in its container) with fetch: chat completions as JSON and as an SSE stream
 * (read to `[DONE]`), every 10th with an invalid max_tokens (must be a 400 with an OpenAI-shaped error).
 */
export function hostTraffic(d: ComposeDeployment): ServiceTraffic {
  const post = (body: unknown, signal: AbortSignal) =>
    fetch(`${d.hostUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
  return {
    service: 'sarai',
    async call(i) {
      const invalid = i % 10 === 0;
      const stream = i % 2 === 1;
      const body = {
        model: 'sarai',
        messages: [{ role: 'user', content: `soak question ${i % 50}` }],
        max_tokens: invalid ? -1 : 8,
        seed: i,
        stream,
        sarai: { iterations: 2, threshold: 1 },
      };
      try {
        const res = await post(body, AbortSignal.timeout(120_000));
        const text = await res.text();
        if (res.status === 429)
          return res.headers.get('retry-after') ? { kind: 'refused' } : fail('429 without Retry-After');
        if (invalid) {
          const err = (JSON.parse(text) as { error?: { type?: string; param?: string } }).error;
          return res.status === 400 && err?.type === 'invalid_request_error' && err.param === 'max_tokens'
            ? { kind: 'refused' }
            : fail(`invalid max_tokens got ${res.status}: ${text.slice(0, 200)}`);
        }
        if (res.status !== 200) return fail(`${res.status}: ${text.slice(0, 200)}`);
        if (!stream) {
          const c = JSON.parse(text) as { choices?: Array<{ message?: { content?: string } }> };
          return typeof c.choices?.[0]?.message?.content === 'string'
            ? { kind: 'ok' }
            : fail(`no answer: ${text.slice(0, 200)}`);
        }
        const events = text
          .split('\n\n')
          .filter((e) => e.startsWith('data: '))
          .map((e) => e.slice(6));
        if (events.at(-1) !== '[DONE]') return fail(`stream did not end in [DONE]: ${text.slice(-200)}`);
        if (events.some((e) => e.startsWith('{"error"'))) return fail(`stream error: ${text.slice(-200)}`);
        return { kind: 'ok' };
      } catch (e) {
        return fail(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      }
    },
    close: () => undefined,
  };
}

const fail = (why: string): CallOutcome => ({ kind: 'failed', why });
