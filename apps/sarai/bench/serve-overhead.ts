// `sarai serve` benchmark (not a test): figures are ratios against baselines measured in the same run, on the same
// embedded skills (generated tiny model, EOS ignored so every answer is exactly 64 tokens).
//  1. per-request overhead of HTTP: POST /v1/chat/completions (JSON and SSE) vs OmniLoop.run in-process, same
//     request, interleaved; ratio of medians (goal ≤ 1.05×).
//  2. aggregate throughput with 1/4/16 concurrent clients over HTTP vs the same concurrency in-process.
import { runBench } from '@sarai/formats';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSession } from '../src/session.js';
import { createServeApp } from '../src/serve/server.js';
import { percentile, table } from '../src/stats.js';

const N = Number(process.env['BENCH_REQUESTS'] ?? 30);
const PER_CLIENT = Number(process.env['BENCH_THROUGHPUT_REQUESTS'] ?? 32);
const TOKENS = 64;
void runBench({ packageDir: join(import.meta.dirname, '..', '..', '..') }, async (ctx) => {
  const out: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'sarai-serve-bench-'));
  ctx.onCleanup(() => rm(dir, { recursive: true, force: true }));
  const env = {
    ...process.env,
    SARAI_STATE_DIR: join(dir, 'state'),
    LOG_LEVEL: 'error',
    IGNORE_EOS: 'true',
    THREADS: process.env['THREADS'] ?? '1',
  };
  const session = await openSession(
    { stdout: () => undefined, stderr: (t) => process.stderr.write(t), env, cwd: dir, isTTY: false },
    { embedded: true, draftDeadlineMs: 600_000 },
  );
  ctx.onCleanup(() => session.close());
  const serve = await createServeApp(
    {
      loop: session.loop,
      pool: session.pool,
      hasFallbackDraft: false,
      fingerprint: session.signer.fingerprint,
      logger: session.logger,
    },
    { maxConcurrentPerClient: 64 },
  );
  ctx.onCleanup(() => serve.drain(0));
  const url = await serve.app.listen({ host: '127.0.0.1', port: 0 });
  const prompt = 'Tell me about the sea.';
  const run = { maxTokens: TOKENS, maxIterations: 1, temperature: 0.7, seed: 5 };
  const body = (stream: boolean) =>
    JSON.stringify({
      model: 'sarai',
      messages: [{ role: 'user', content: prompt }],
      max_tokens: TOKENS,
      temperature: 0.7,
      seed: 5,
      stream,
      sarai: { iterations: 1 },
    });

  async function inProcess(): Promise<void> {
    const r = await session.loop.run(prompt, run);
    if (r.fallbackUsed) throw new Error('the fallback answered: the bench needs the draft skill');
  }
  async function http(stream: boolean): Promise<void> {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(stream),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text}`);
    if (stream ? !text.endsWith('data: [DONE]\n\n') : !text.includes('"fallback_used":false')) {
      throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
    }
  }
  async function timed(fn: () => Promise<void>): Promise<number> {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  }

  try {
    for (let i = 0; i < 3; i++) for (const fn of [inProcess, () => http(false), () => http(true)]) await fn();
    const base: number[] = [];
    const json: number[] = [];
    const sse: number[] = [];
    for (let i = 0; i < N; i++) {
      base.push(await timed(inProcess));
      json.push(await timed(() => http(false)));
      sse.push(await timed(() => http(true)));
    }
    const b = percentile(base, 50);
    Object.assign(ctx.results, {
      inProcessP50Ms: b,
      httpJsonP50Ms: percentile(json, 50),
      httpSseP50Ms: percentile(sse, 50),
      httpJsonRatio: percentile(json, 50) / b,
      httpSseRatio: percentile(sse, 50) / b,
    });
    out.push(`\nper request, ${TOKENS}-token answer, 1 iteration, ${N} interleaved rounds (ms)\n`);
    out.push(
      table(
        ['path', 'p50', 'p99', 'p50 added (ms)', 'ratio p50 vs in-process'],
        [
          ['OmniLoop.run in-process (baseline)', b, percentile(base, 99), 0, '1.00×'],
          ...(
            [
              ['HTTP JSON', json],
              ['HTTP SSE stream', sse],
            ] as const
          ).map(([name, v]) => [
            name,
            percentile(v, 50),
            percentile(v, 99),
            percentile(v, 50) - b,
            `${(percentile(v, 50) / b).toFixed(3)}×`,
          ]),
        ],
      ),
    );

    const rows: Array<Array<string | number>> = [];
    for (const clients of [1, 4, 16]) {
      const total = Math.max(clients, PER_CLIENT);
      const measure = async (fn: () => Promise<void>) => {
        let next = 0;
        const t = performance.now();
        await Promise.all(
          Array.from({ length: clients }, async () => {
            while (next++ < total) await fn();
          }),
        );
        return (total / (performance.now() - t)) * 1000;
      };
      const inproc = await measure(inProcess);
      const over = await measure(() => http(false));
      ctx.results[`throughput${clients}Clients`] = { inProcessReqPerS: inproc, httpReqPerS: over };
      rows.push([
        clients,
        total,
        inproc,
        inproc * TOKENS,
        over,
        over * TOKENS,
        `${(over / inproc).toFixed(3)}×`,
      ]);
    }
    out.push(`\naggregate throughput (${TOKENS}-token answers)\n`);
    out.push(
      table(
        ['clients', 'requests', 'in-process req/s', 'tok/s', 'HTTP req/s', 'tok/s', 'HTTP / in-process'],
        rows,
      ),
    );
    out.push(`\nload average: ${ctx.loadavg()}\n`);
    return { text: out.join('') };
  } finally {
    // serve, session and dir are released by runBench's cleanup (also on failure and on signals).
  }
});
