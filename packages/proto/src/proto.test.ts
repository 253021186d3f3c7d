import { status, type Server } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GRPC_DEFAULT_MAX_MESSAGE_BYTES,
  GenReply,
  HealthCheckResponse_ServingStatus as SeedStatus,
  ProtoError,
  RpcError,
  SkillHealth,
  bindServer,
  connectSkill,
  createGrpcServer,
  grpcHealthV1,
  resolveMaxMessageBytes,
  rpcStatus,
  skillDefinition,
  type ISkill,
  type SkillConnection,
} from './index.js';

const Std = grpcHealthV1.HealthCheckResponse_ServingStatus;

/** A small real skill: echoes prompts, streams words, sleeps on demand, reports image sizes. */
const impl: Partial<ISkill> = {
  generate(call, cb) {
    const p = call.request.prompt;
    if (p.startsWith('sleep:')) {
      const t = setTimeout(() => cb(null, GenReply.create({ text: 'late' })), Number(p.slice(6)));
      call.on('cancelled', () => clearTimeout(t));
      return;
    }
    if (!p) return cb(rpcStatus(status.INVALID_ARGUMENT, 'prompt is empty: send the text to complete'));
    cb(null, {
      text: `echo:${p}`,
      tokensPerSecond: 42,
      ramMb: 1.5,
      tokensGenerated: call.request.maxTokens,
      finishReason: 'stop',
      decodeTokensPerSecond: 42.5,
      promptTokensEvaluated: 0,
      promptTokensReused: 0,
      meanLogprob: 0,
      minLogprob: 0,
      adapter: call.request.adapter,
      model: 'echo',
    });
  },
  generateStream(call) {
    const words = call.request.prompt.split(' ');
    for (const w of words) call.write({ token: w + ' ', final: false });
    call.write({
      token: '',
      final: true,
      reply: GenReply.create({ text: call.request.prompt, tokensPerSecond: 1 }),
    });
    call.end();
  },
  preprocessImage(call, cb) {
    cb(null, {
      webpPath: `x/${call.request.imageData.length}.webp`,
      perceptualHash: 'ff',
      ramMb: 0,
      cache: 'miss',
      width: 1,
      height: 1,
      format: call.request.format,
      bytes: String(call.request.imageData.length),
      contentHash: '',
    });
  },
  imageCacheStats(_call, cb) {
    cb(rpcStatus(status.UNIMPLEMENTED, 'not an image skill'));
  },
};

async function start(maxMessageBytes?: number) {
  const server = createGrpcServer(maxMessageBytes ? { maxMessageBytes } : {});
  server.addService(skillDefinition, impl as ISkill);
  const health = new SkillHealth({ '': 'NOT_SERVING', 'skills.Skill': 'NOT_SERVING' });
  health.addToServer(server);
  const port = await bindServer(server, '127.0.0.1', 0);
  return { server, health, port };
}

describe('skills contract over a real grpc-js server', () => {
  let server: Server;
  let health: SkillHealth;
  let conn: SkillConnection;

  beforeAll(async () => {
    const s = await start();
    server = s.server;
    health = s.health;
    conn = connectSkill(`127.0.0.1:${s.port}`);
  });
  afterAll(() => {
    conn.close();
    server.forceShutdown();
  });

  it('unary Generate round-trips every field, seed fields and new ones', async () => {
    const { response } = await conn.skill.generate({
      prompt: 'hello',
      maxTokens: 7,
      stop: ['</response>'],
      temperature: 0.2,
      grammar: '',
      seed: 3,
      adapter: 'lora_20261124',
      logprobs: true,
    });
    expect(response.text).toBe('echo:hello');
    expect(response.tokensPerSecond).toBe(42);
    expect(response.ramMb).toBeCloseTo(1.5);
    expect(response.tokensGenerated).toBe(7);
    expect(response.adapter).toBe('lora_20261124');
  });

  it('GenerateStream yields chunks that concatenate to the text, then a final chunk with stats', async () => {
    const call = conn.skill.generateStream({
      prompt: 'a b c',
      maxTokens: 3,
      stop: [],
      temperature: 0,
      grammar: '',
      adapter: '',
      logprobs: false,
    });
    const chunks = [];
    for await (const c of call.responses) chunks.push(c);
    expect(
      chunks
        .filter((c) => !c.final)
        .map((c) => c.token)
        .join(''),
    ).toBe('a b c ');
    expect(chunks.at(-1)?.final).toBe(true);
    expect(chunks.at(-1)?.reply?.text).toBe('a b c');
    expect((await call.status).code).toBe('OK');
  });

  it('a client deadline ends a slow call with DEADLINE_EXCEEDED', async () => {
    const err = await conn.skill
      .generate(
        {
          prompt: 'sleep:2000',
          maxTokens: 1,
          stop: [],
          temperature: 0,
          grammar: '',
          adapter: '',
          logprobs: false,
        },
        { timeout: 100 },
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe('DEADLINE_EXCEEDED');
  });

  it('a handler error reaches the client with its code and message', async () => {
    const err = (await conn.skill
      .generate({
        prompt: '',
        maxTokens: 1,
        stop: [],
        temperature: 0,
        grammar: '',
        adapter: '',
        logprobs: false,
      })
      .then(
        () => null,
        (e: unknown) => e,
      )) as RpcError;
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/prompt is empty/);
  });

  it('images larger than grpc-js default 4 MiB pass with our default limit', async () => {
    const big = new Uint8Array(GRPC_DEFAULT_MAX_MESSAGE_BYTES + 1024 * 1024);
    const { response } = await conn.skill.preprocessImage({
      imageData: big,
      format: 'webp',
      quality: 80,
      maxDimension: 0,
    });
    expect(response.webpPath).toBe(`x/${big.length}.webp`);
  });

  it('health: Check and Watch follow SERVING <-> NOT_SERVING on grpc.health.v1 and skills.Health', async () => {
    const check = async () => (await conn.grpcHealth.check({ service: '' })).response.status;
    const seed = async (service = '') => (await conn.health.check({ service })).response.status;
    expect(await check()).toBe(Std.NOT_SERVING);
    expect(await seed()).toBe(SeedStatus.NOT_SERVING);

    const abort = new AbortController();
    const watch = conn.grpcHealth.watch({ service: 'skills.Skill' }, { abort: abort.signal });
    const seen: number[] = [];
    const done = (async () => {
      try {
        for await (const m of watch.responses) {
          seen.push(m.status);
          if (seen.length === 3) abort.abort();
        }
      } catch {
        /* aborted */
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    health.setAll('SERVING');
    expect(await check()).toBe(Std.SERVING);
    expect(await seed('skills.Skill')).toBe(SeedStatus.SERVING);
    await new Promise((r) => setTimeout(r, 50));
    health.setAll('NOT_SERVING');
    await done;
    expect(seen).toEqual([Std.NOT_SERVING, Std.SERVING, Std.NOT_SERVING]);
    expect(await seed('no.such.Service')).toBe(SeedStatus.SERVICE_UNKNOWN);
    const err = (await conn.grpcHealth.check({ service: 'no.such.Service' }).then(
      () => null,
      (e: unknown) => e,
    )) as RpcError;
    expect(err.code).toBe('NOT_FOUND');
  });
});

describe('message limits', () => {
  it('a request over the server limit gets RESOURCE_EXHAUSTED with a message that says what to fix', async () => {
    const s = await start(64 * 1024);
    const conn = connectSkill(`127.0.0.1:${s.port}`); // client allows 32 MiB, server only 64 KiB
    try {
      const err = (await conn.skill
        .preprocessImage({
          imageData: new Uint8Array(200 * 1024),
          format: 'webp',
          quality: 80,
          maxDimension: 0,
        })
        .then(
          () => null,
          (e: unknown) => e,
        )) as RpcError;
      expect(err.code).toBe('RESOURCE_EXHAUSTED');
      expect(err.message).toMatch(/200\.\d KiB exceeds the server's 64\.0 KiB gRPC message limit/);
      expect(err.message).toMatch(/SARAI_GRPC_MAX_MESSAGE_MB/);
      // the server keeps serving
      const { response } = await conn.skill.preprocessImage({
        imageData: new Uint8Array(10),
        format: 'webp',
        quality: 80,
        maxDimension: 0,
      });
      expect(response.webpPath).toBe('x/10.webp');
    } finally {
      conn.close();
      s.server.forceShutdown();
    }
  });

  it('a request over the client limit fails before it is sent, unary and streaming', async () => {
    const s = await start();
    const conn = connectSkill(`127.0.0.1:${s.port}`, { maxMessageBytes: 4096 });
    try {
      const err = (await conn.skill
        .preprocessImage({ imageData: new Uint8Array(10_000), format: 'webp', quality: 80, maxDimension: 0 })
        .then(
          () => null,
          (e: unknown) => e,
        )) as RpcError;
      expect(err.code).toBe('RESOURCE_EXHAUSTED');
      expect(err.message).toMatch(/exceeds the client's 4\.0 KiB gRPC message limit/);
      const stream = conn.skill.generateStream({
        prompt: 'x'.repeat(10_000),
        maxTokens: 1,
        stop: [],
        temperature: 0,
        grammar: '',
        adapter: '',
        logprobs: false,
      });
      const serr = await (async () => {
        try {
          for await (const _ of stream.responses) void _;
          return null;
        } catch (e) {
          return e as RpcError;
        }
      })();
      expect(serr?.code).toBe('RESOURCE_EXHAUSTED');
    } finally {
      conn.close();
      s.server.forceShutdown();
    }
  });

  it('limits are configurable and validated', () => {
    expect(resolveMaxMessageBytes({}, {})).toBe(32 * 1024 * 1024);
    expect(resolveMaxMessageBytes({}, { SARAI_GRPC_MAX_MESSAGE_MB: '8' })).toBe(8 * 1024 * 1024);
    expect(() => resolveMaxMessageBytes({}, { SARAI_GRPC_MAX_MESSAGE_MB: 'lots' })).toThrow(
      /SARAI_GRPC_MAX_MESSAGE_MB must be/,
    );
    expect(() => resolveMaxMessageBytes({ maxMessageBytes: 12 })).toThrow(ProtoError);
    expect(() => connectSkill('not an address')).toThrow(/is not a gRPC address/);
  });
});
