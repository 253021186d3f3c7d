import {
  makeGenericClientConstructor,
  credentials,
  type Client,
  type ServiceDefinition,
  type ServiceError,
  type handleUnaryCall,
} from '@grpc/grpc-js';
import {
  GenReply,
  GenReq,
  RpcError,
  connectSkill,
  grpcHealthV1,
  skillDefinition,
  skillErrorOf,
  type SkillConnection,
} from '@sarai/proto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  Admission,
  SkillRuntimeError,
  commonConfigSchema,
  createLogger,
  defineSkill,
  skillFailure,
  skillService,
  startSkill,
  type SkillHandle,
} from './index.js';

/** The one error class of a pretend skill package. */
class EchoError extends Error {
  constructor(
    readonly code: 'ECHO_BAD_INPUT' | 'ECHO_UNMAPPED',
    message: string,
  ) {
    super(message);
  }
}

/** A skill's own contract, shaped like protobuf-ts `server_grpc1` output (package sarai.echo.v1). */
interface IEcho {
  [name: string]: handleUnaryCall<GenReq, GenReply>;
  echo: handleUnaryCall<GenReq, GenReply>;
}
const echoDefinition: ServiceDefinition<IEcho> = {
  echo: {
    path: '/sarai.echo.v1.Echo/Echo',
    originalName: 'Echo',
    requestStream: false,
    responseStream: false,
    responseDeserialize: (b: Buffer) => GenReply.fromBinary(b),
    requestDeserialize: (b: Buffer) => GenReq.fromBinary(b),
    responseSerialize: (v: GenReply) => Buffer.from(GenReply.toBinary(v)),
    requestSerialize: (v: GenReq) => Buffer.from(GenReq.toBinary(v)),
  },
};
type EchoClient = Client & {
  echo(req: GenReq, cb: (e: ServiceError | null, r?: GenReply) => void): void;
};

const held: Array<() => void> = [];
const echoSkill = defineSkill({
  name: 'echo',
  config: commonConfigSchema.extend({ ECHO_PREFIX: z.string().min(1).default('echo:') }),
  errors: { ECHO_BAD_INPUT: 'INVALID_ARGUMENT' },
  limits: () => ({ concurrency: 1, maxQueue: 1 }),
  init: (ctx) => ({ prefix: ctx.config.ECHO_PREFIX, closed: false }),
  services: (_ctx, state) => [
    skillService(echoDefinition, {
      echo(call, cb) {
        const p = call.request.prompt;
        if (p === 'bad')
          return cb(skillFailure(new EchoError('ECHO_BAD_INPUT', 'prompt "bad": send another word')));
        if (p === 'unmapped') return cb(skillFailure(new EchoError('ECHO_UNMAPPED', 'no table entry')));
        if (p === 'throw') throw new Error('boom');
        if (p === 'hold') return void held.push(() => cb(null, GenReply.create({ text: 'held' })));
        cb(null, GenReply.create({ text: `${state.prefix}${p}` }));
      },
    }),
    // A text skill implements only skills.Skill/Generate; the rest answer UNIMPLEMENTED.
    skillService(skillDefinition, {
      generate: async (call, cb) => cb(null, GenReply.create({ text: call.request.prompt.toUpperCase() })),
    }),
  ],
});

function echoClient(port: number): EchoClient {
  const Ctor = makeGenericClientConstructor(echoDefinition as ServiceDefinition, 'Echo');
  return new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as EchoClient;
}
const echo = (c: EchoClient, prompt: string) =>
  new Promise<GenReply>((resolve, reject) =>
    c.echo(GenReq.create({ prompt }), (e, r) => (e ? reject(e) : resolve(r as GenReply))),
  );

describe('defineSkill / startSkill', () => {
  let h: SkillHandle<z.infer<typeof commonConfigSchema> & { ECHO_PREFIX: string }, unknown> | undefined;
  let conn: SkillConnection | undefined;
  let client: EchoClient | undefined;
  afterEach(async () => {
    client?.close();
    conn?.close();
    await h?.shutdown();
    h = client = conn = undefined;
  });

  it('serves its own contract and skills.Skill/Generate, with health entries for both and per-method metrics', async () => {
    h = await startSkill(echoSkill, { config: { ECHO_PREFIX: '>' } });
    client = echoClient(h.port);
    conn = connectSkill(`127.0.0.1:${h.port}`);
    expect((await echo(client, 'hi')).text).toBe('>hi');
    expect((await conn.skill.generate(GenReq.create({ prompt: 'abc', maxTokens: 1 }))).response.text).toBe(
      'ABC',
    );
    const e = await conn.skill
      .preprocessImage({ imageData: new Uint8Array(1), format: '', quality: 0, maxDimension: 0 })
      .response.catch((x: unknown) => x as RpcError);
    expect(e).toBeInstanceOf(RpcError);
    expect((e as RpcError).code).toBe('UNIMPLEMENTED');
    expect((e as RpcError).message).toMatch(
      /echo skill does not implement PreprocessImage \(service skills\.Skill\)/,
    );
    for (const service of ['', 'sarai.echo.v1.Echo', 'skills.Skill']) {
      const r = await conn.grpcHealth.check({ service }).response;
      expect(r.status).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);
      expect((await conn.health.check({ service }).response).status).toBe(1);
    }
    const text = await h.registry.metrics();
    expect(text).toMatch(/sarai_grpc_requests_total\{method="Echo",code="OK",skill="echo"\} 1/);
    expect(text).toMatch(/sarai_grpc_requests_total\{method="Generate",code="OK",skill="echo"\} 1/);
  });

  it('sends every skill error as "<CODE>: <message>" with the status from the table; the client recovers the code', async () => {
    h = await startSkill(echoSkill);
    client = echoClient(h.port);
    const bad = (await echo(client, 'bad').catch((x: unknown) => x)) as ServiceError;
    expect(bad.code).toBe(3); // INVALID_ARGUMENT
    expect(bad.details).toBe('ECHO_BAD_INPUT: prompt "bad": send another word');
    const unmapped = (await echo(client, 'unmapped').catch((x: unknown) => x)) as ServiceError;
    expect(unmapped.code).toBe(13); // INTERNAL
    expect(unmapped.details).toBe('ECHO_UNMAPPED: no table entry');
    const thrown = (await echo(client, 'throw').catch((x: unknown) => x)) as ServiceError;
    expect(thrown.code).toBe(13);
    expect(thrown.details).toMatch(/internal error in Echo: boom/);
    expect(await echo(client, 'still serving')).toMatchObject({ text: 'echo:still serving' });
    // Over protobuf-ts (what every SARAi client uses):
    const e = new RpcError('ECHO_BAD_INPUT: prompt "bad": send another word', 'INVALID_ARGUMENT');
    expect(skillErrorOf(e)).toEqual({
      code: 'ECHO_BAD_INPUT',
      message: 'prompt "bad": send another word',
      status: 'INVALID_ARGUMENT',
    });
    expect(skillErrorOf(new RpcError('deadline', 'DEADLINE_EXCEEDED'))).toBeUndefined();
  });

  it('admits `concurrency` calls, queues `maxQueue`, refuses the rest with RESOURCE_EXHAUSTED (RUNTIME_BUSY)', async () => {
    h = await startSkill(echoSkill);
    client = echoClient(h.port);
    const first = echo(client, 'hold');
    while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
    const queued = echo(client, 'queued');
    await new Promise((r) => setTimeout(r, 50));
    const refused = (await echo(client, 'refused').catch((x: unknown) => x)) as ServiceError;
    expect(refused.code).toBe(8); // RESOURCE_EXHAUSTED
    expect(refused.details).toMatch(
      /^RUNTIME_BUSY: busy: 1 calls running and 1 queued \(concurrency 1, queue 1\)/,
    );
    held.shift()?.();
    expect((await first).text).toBe('held');
    expect((await queued).text).toBe('echo:queued');
    expect(await h.registry.metrics()).toMatch(
      /sarai_grpc_requests_total\{method="Echo",code="RESOURCE_EXHAUSTED",skill="echo"\} 1/,
    );
  });

  it('listens on a unix socket when HOST is unix:/path (skills without a network)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skill-runtime-'));
    const socket = `unix:${join(dir, 'echo.sock')}`;
    try {
      h = await startSkill(echoSkill, { config: { HOST: socket } });
      conn = connectSkill(socket);
      const r = await conn.grpcHealth.check({ service: 'sarai.echo.v1.Echo' }).response;
      expect(r.status).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      conn?.close();
      await h?.shutdown();
      conn = h = undefined;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a bad setting naming it, before listening', async () => {
    await expect(startSkill(echoSkill, { env: { ECHO_PREFIX: '', PORT: 'x' } })).rejects.toThrow(
      /RUNTIME_BAD_CONFIG|PORT: .*got "x"/,
    );
    const e = await startSkill(echoSkill, { env: { PORT: '70000' } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SkillRuntimeError);
    expect((e as SkillRuntimeError).code).toBe('RUNTIME_BAD_CONFIG');
    expect((e as SkillRuntimeError).message).toMatch(/PORT/);
  });

  it('stays NOT_SERVING until start() resolves; a start failure becomes RUNTIME_START_FAILED', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = defineSkill({ ...echoSkill, start: () => gate });
    h = await startSkill(slow, { start: false });
    const starting = h.start();
    expect(h.health.status('')).toBe('NOT_SERVING');
    release();
    await starting;
    expect(h.health.status('sarai.echo.v1.Echo')).toBe('SERVING');
    const failing = defineSkill({
      ...echoSkill,
      start: () => {
        throw new EchoError('ECHO_BAD_INPUT', 'model missing');
      },
    });
    const e = await startSkill(failing).catch((x: unknown) => x as SkillRuntimeError);
    expect(e).toMatchObject({ code: 'RUNTIME_START_FAILED', message: 'model missing' });
  });
});

describe('Admission', () => {
  it('grants in FIFO order within concurrency and budget, refuses when the queue is full, honours cancel', async () => {
    const a = new Admission({ concurrency: 2, maxQueue: 2, budget: 10 });
    const r1 = await a.acquire({ weight: 6 });
    const t2 = a.tryAcquire(6); // does not fit the budget next to r1
    const t3 = a.tryAcquire(1); // FIFO: waits behind t2 even though it would fit
    expect(a.active).toBe(1);
    expect(a.queued).toBe(2);
    expect(a.tryAcquire(1)).toBeUndefined();
    await expect(a.acquire()).rejects.toMatchObject({ code: 'RUNTIME_BUSY' });
    t2?.cancel();
    const r3 = await t3?.ready;
    expect(a.active).toBe(2);
    r1();
    r1();
    r3?.();
    expect(a.active).toBe(0);
    const ac = new AbortController();
    const hold = await a.acquire();
    const hold2 = await a.acquire();
    const waiting = a.acquire({ signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'RUNTIME_CANCELLED' });
    const failed = a.acquire();
    a.failAll(new Error('shutting down'));
    await expect(failed).rejects.toThrow('shutting down');
    hold();
    hold2();
    expect(a.active).toBe(0);
  });

  it('uses the skill’s own error for a full queue', async () => {
    const a = new Admission({
      concurrency: 1,
      maxQueue: 0,
      busyError: (s) => new EchoError('ECHO_BAD_INPUT', `full: ${s.active}/${s.concurrency}`),
    });
    await a.acquire();
    await expect(a.acquire()).rejects.toMatchObject({ code: 'ECHO_BAD_INPUT', message: 'full: 1/1' });
  });
});

describe('createLogger', () => {
  it('redacts prompts unless logPrompts, and key material always', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const fields = { prompt: 'p', answer: 'a', nested: { passphrase: 'x', privateKey: 'k', key: 'y' } };
    createLogger({ name: 't', destination }).info(fields, 'm');
    createLogger({ name: 't', destination, logPrompts: true }).info(fields, 'm');
    const [hidden, shown] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(hidden).toMatchObject({ prompt: '[redacted]', answer: '[redacted]' });
    expect(shown).toMatchObject({ prompt: 'p', answer: 'a' });
    for (const l of [hidden, shown])
      expect(l?.['nested']).toEqual({
        passphrase: '[redacted]',
        privateKey: '[redacted]',
        key: '[redacted]',
      });
  });
});
