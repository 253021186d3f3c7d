import { status } from '@grpc/grpc-js';
import { GenReply, connectSkill, grpcHealthV1, rpcStatus, type RpcError } from '@sarai/proto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  commonConfigSchema,
  createLogger,
  parseEnvConfig,
  startSkillServer,
  type RunningSkill,
} from './index.js';

const silent = createLogger({ name: 'test', level: 'silent' });
const req = (prompt: string) => ({
  prompt,
  maxTokens: 1,
  stop: [],
  temperature: 0,
  grammar: '',
  adapter: '',
  logprobs: false,
});

/** A skill whose Generate waits until released, so tests can hold calls in flight. */
function slowSkill() {
  const waiting: Array<() => void> = [];
  return {
    waiting,
    implementation: {
      generate: (call: { request: { prompt: string } }, cb: (e: unknown, r?: GenReply) => void) => {
        if (call.request.prompt === 'fail') return cb(rpcStatus(status.INVALID_ARGUMENT, 'bad prompt'));
        if (call.request.prompt === 'throw') throw new Error('boom');
        waiting.push(() => cb(null, GenReply.create({ text: `done:${call.request.prompt}` })));
      },
    },
  };
}

describe('startSkillServer', () => {
  let running: RunningSkill | undefined;
  afterEach(async () => {
    await running?.shutdown();
    running = undefined;
  });

  it('serves the implementation, answers UNIMPLEMENTED for the rest, and counts requests by method and code', async () => {
    const s = slowSkill();
    running = await startSkillServer({
      name: 't',
      host: '127.0.0.1',
      port: 0,
      metricsPort: 0,
      implementation: s.implementation as never,
      logger: silent,
      serving: true,
    });
    const conn = connectSkill(`127.0.0.1:${running.port}`);
    try {
      const p = conn.skill.generate(req('a'));
      await expect.poll(() => s.waiting.length).toBe(1);
      s.waiting.shift()?.();
      expect((await p.response).text).toBe('done:a');
      const bad = (await conn.skill.generate(req('fail')).then(
        () => null,
        (e: unknown) => e,
      )) as RpcError;
      expect(bad.code).toBe('INVALID_ARGUMENT');
      const thrown = (await conn.skill.generate(req('throw')).then(
        () => null,
        (e: unknown) => e,
      )) as RpcError;
      expect(thrown.code).toBe('INTERNAL');
      expect(thrown.message).toMatch(/boom/);
      const un = (await conn.skill.imageCacheStats({}).then(
        () => null,
        (e: unknown) => e,
      )) as RpcError;
      expect(un.code).toBe('UNIMPLEMENTED');
      expect(un.message).toMatch(/does not implement ImageCacheStats/);

      const body = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
      expect(body).toMatch(/sarai_grpc_requests_total\{method="Generate",code="OK",skill="t"\} 1/);
      expect(body).toMatch(
        /sarai_grpc_requests_total\{method="Generate",code="INVALID_ARGUMENT",skill="t"\} 1/,
      );
      expect(body).toMatch(/sarai_grpc_requests_total\{method="Generate",code="INTERNAL",skill="t"\} 1/);
      expect(body).toMatch(/sarai_process_rss_bytes\{skill="t"\} \d+/);
      expect(body).toMatch(/sarai_grpc_request_duration_seconds_count\{skill="t",method="Generate"\} 3/);
      expect((await fetch(`http://127.0.0.1:${running.metricsPort}/nope`)).status).toBe(404);
    } finally {
      conn.close();
    }
  });

  it('shutdown turns NOT_SERVING, refuses new calls with UNAVAILABLE, and lets in-flight calls finish', async () => {
    const s = slowSkill();
    running = await startSkillServer({
      name: 't',
      host: '127.0.0.1',
      port: 0,
      implementation: s.implementation as never,
      logger: silent,
    });
    const conn = connectSkill(`127.0.0.1:${running.port}`);
    try {
      const check = async () => (await conn.grpcHealth.check({ service: '' })).response.status;
      expect(await check()).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.NOT_SERVING);
      running.setServing(true);
      expect(await check()).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);

      const inFlight = conn.skill.generate(req('slow'));
      await expect.poll(() => s.waiting.length).toBe(1);
      let hookRan = false;
      running.onShutdown(() => {
        hookRan = true;
      });
      const stopping = running.shutdown('test');
      expect(await check()).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.NOT_SERVING);
      const refused = (await conn.skill.generate(req('new')).then(
        () => null,
        (e: unknown) => e,
      )) as RpcError;
      expect(refused.code).toBe('UNAVAILABLE');
      expect(refused.message).toMatch(/shutting down/);
      expect(hookRan).toBe(false);
      s.waiting.shift()?.();
      expect((await inFlight.response).text).toBe('done:slow');
      await stopping;
      expect(hookRan).toBe(true);
      running = undefined;
    } finally {
      conn.close();
    }
  });

  it('the grace period bounds the drain', async () => {
    const s = slowSkill();
    running = await startSkillServer({
      name: 't',
      host: '127.0.0.1',
      port: 0,
      implementation: s.implementation as never,
      logger: silent,
      serving: true,
      shutdownGraceMs: 100,
    });
    const conn = connectSkill(`127.0.0.1:${running.port}`);
    try {
      const stuck = conn.skill.generate(req('never')).then(
        () => 'ok',
        (e: RpcError) => e.code,
      );
      await expect.poll(() => s.waiting.length).toBe(1);
      await running.shutdown();
      running = undefined;
      expect(await stuck).toBe('CANCELLED');
    } finally {
      conn.close();
    }
  });

  it('a port in use is a clear start-up error', async () => {
    running = await startSkillServer({
      name: 't',
      host: '127.0.0.1',
      port: 0,
      implementation: {},
      logger: silent,
    });
    await expect(
      startSkillServer({
        name: 'u',
        host: '127.0.0.1',
        port: running.port,
        implementation: {},
        logger: silent,
      }),
    ).rejects.toThrow(new RegExp(`cannot listen on 127.0.0.1:${running.port}`));
  });
});

describe('config and logs', () => {
  it('defaults apply, empty strings count as unset, and bad settings are named', () => {
    const schema = commonConfigSchema.extend({ MODEL_PATH: z.string().min(1) });
    const cfg = parseEnvConfig(schema, { MODEL_PATH: '/m.gguf', PORT: '', LOG_PROMPTS: 'yes' });
    expect(cfg).toMatchObject({ PORT: 50051, HOST: '0.0.0.0', LOG_PROMPTS: true, MODEL_PATH: '/m.gguf' });
    expect(() => parseEnvConfig(schema, { PORT: '70000', MODEL_PATH: '/m' })).toThrow(
      /PORT: .*\(got "70000"\)/,
    );
    expect(() => parseEnvConfig(schema, {})).toThrow(/MODEL_PATH/);
    expect(() => parseEnvConfig(schema, { MODEL_PATH: 'x', LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });

  it('prompts and key material are redacted unless prompts are enabled; keys always', () => {
    const capture = (logPrompts: boolean) => {
      const lines: string[] = [];
      const dest = new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      });
      const log = createLogger({ name: 'r', logPrompts, destination: dest as never });
      log.info({ prompt: 'my secret question', req: { prompt: 'nested' }, passphrase: 'hunter2' }, 'gen');
      return JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    };
    const red = capture(false);
    expect(red['prompt']).toBe('[redacted]');
    expect(red['req']).toEqual({ prompt: '[redacted]' });
    expect(red['passphrase']).toBe('[redacted]');
    const clear = capture(true);
    expect(clear['prompt']).toBe('my secret question');
    expect(clear['passphrase']).toBe('[redacted]');
  });
});
