// Size bounds before work (issue 15): an oversize prompt is refused from its byte length, without tokenizing, and
// a small request sent at the same time is answered normally.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { genReq, rpcFailure, startTestServer, type TestServer } from './test-support/server.js';

const MB20 = 20 * 1024 * 1024;

describe('draft prompt size bounds (tiny model, CONTEXT_SIZE 4096)', () => {
  let s: TestServer;
  beforeAll(async () => {
    // The transport limit raised to 32 MiB (the old default) so the prompt reaches the skill's own byte bound.
    s = await startTestServer(
      { SARAI_GRPC_MAX_MESSAGE_MB: '32' },
      { clientMaxMessageBytes: 40 * 1024 * 1024 },
    );
  });
  afterAll(async () => s?.close());

  it('refuses a 20 MB prompt from its byte length, while a concurrent small request is answered', async () => {
    const big = rpcFailure(
      s.conn.skill.generate(genReq({ prompt: 'x'.repeat(MB20), maxTokens: 4 })).response,
      'INVALID_ARGUMENT',
    );
    const small = s.conn.skill.generate(genReq({ prompt: 'Hi', maxTokens: 4, seed: 1 })).response;
    const [e, r] = await Promise.all([big, small]);
    // The message counts bytes: the prompt was never tokenized (the old message said "prompt is 20971520 tokens").
    expect(e.message).toMatch(
      /^DRAFT_PROMPT_TOO_LONG: prompt is more than 20971520 bytes; the context of 4096 tokens/,
    );
    expect(e.message).toMatch(/bytes per token/);
    expect(r.tokensGenerated).toBe(4);
    // Nothing was queued behind it: the engine saw no tokenization of the big prompt.
    expect(s.service.engine?.running).toBe(0);
  });

  it('refuses the same prompt on GenerateStream before any chunk', async () => {
    const call = s.conn.skill.generateStream(genReq({ prompt: 'y'.repeat(MB20), maxTokens: 4 }));
    const chunks: unknown[] = [];
    const e = await rpcFailure(
      (async () => {
        for await (const c of call.responses) chunks.push(c);
      })(),
      'INVALID_ARGUMENT',
    );
    expect(e.message).toMatch(/DRAFT_PROMPT_TOO_LONG: .*bytes/);
    expect(chunks).toHaveLength(0);
  });

  it('counts UTF-8 bytes, not characters: 4-byte characters hit the bound at a quarter of the length', async () => {
    const bound = 4096 * 13; // the tiny model's longest vocabulary entry is 13 bytes
    const e = await rpcFailure(
      s.conn.skill.generate(genReq({ prompt: '😀'.repeat(Math.ceil(bound / 4) + 1), maxTokens: 4 })).response,
      'INVALID_ARGUMENT',
    );
    expect(e.message).toMatch(
      new RegExp(`prompt is ${(Math.ceil(bound / 4) + 1) * 4} bytes;.* at most ${bound} bytes`),
    );
  });

  it('a prompt within the byte bound but over the context is still refused by its token count', async () => {
    const e = await rpcFailure(
      s.conn.skill.generate(genReq({ prompt: 'a b '.repeat(4096), maxTokens: 4 })).response,
      'INVALID_ARGUMENT',
    );
    expect(e.message).toMatch(/DRAFT_PROMPT_TOO_LONG: prompt (is \d+ tokens|\(\d+ tokens\))/);
    const { response } = await s.conn.skill.generate(genReq({ prompt: 'still serving', maxTokens: 2 }));
    expect(response.tokensGenerated).toBe(2);
  });
});

describe('draft request values found by fuzzing', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s?.close());

  it('a denormal temperature (1/T overflows: NaN log-probabilities) is refused; 0 and 0.001 are served', async () => {
    const e = await rpcFailure(
      s.conn.skill.generate(genReq({ prompt: 'hi', maxTokens: 2, temperature: 1.4e-45, logprobs: true }))
        .response,
      'INVALID_ARGUMENT',
    );
    expect(e.message).toMatch(/temperature must be 0 \(greedy\) or between 0\.001 and 5/);
    for (const temperature of [0, 0.001]) {
      const { response } = await s.conn.skill.generate(
        genReq({ prompt: 'hi', maxTokens: 4, temperature, logprobs: true, seed: 3 }),
      );
      expect(Number.isFinite(response.meanLogprob)).toBe(true);
      expect(Number.isFinite(response.minLogprob)).toBe(true);
    }
  });
});

describe('draft message limit (default 8 MiB: a text skill does not take image-sized messages)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, { clientMaxMessageBytes: 40 * 1024 * 1024 });
  });
  afterAll(async () => s?.close());

  it('the transport refuses a 20 MB prompt with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const e = await rpcFailure(
      s.conn.skill.generate(genReq({ prompt: 'z'.repeat(MB20), maxTokens: 4 })).response,
      'RESOURCE_EXHAUSTED',
    );
    expect(e.message).toMatch(/exceeds the server's 8\.0 MiB gRPC message limit/);
    const { response } = await s.conn.skill.generate(genReq({ prompt: 'after', maxTokens: 3 }));
    expect(response.tokensGenerated).toBe(3);
  });
});
