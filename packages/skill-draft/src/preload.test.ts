// The model preload main.ts starts before importing the gRPC stack: adopted when it matches the service's settings,
// disposed when not, its failure reported as the model load error; an invalid environment starts nothing.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '@sarai/skill-runtime';
import { describe, expect, it } from 'vitest';
import { preloadModel } from './preload.js';
import { TINY_MODEL } from './test-support/models.js';
import { genReq, startTestServer } from './test-support/server.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ name: 'draft', level: 'info', destination });
  return { logger, ready: () => lines.find((l) => l['msg'] === 'llama.cpp ready') };
}

describe('preloadModel', () => {
  it('serves with the model preloaded from the same environment', async () => {
    const env = { MODEL_PATH: TINY_MODEL, THREADS: '1' };
    const preloaded = preloadModel(env);
    expect(preloaded).toBeDefined();
    const log = capture();
    const s = await startTestServer(env, { logger: log.logger, engine: { preloaded } });
    try {
      const reply = await s.conn.skill.generate(genReq({ prompt: 'hello', maxTokens: 4 })).response;
      expect(reply.tokensGenerated).toBe(4);
      expect(log.ready()).toMatchObject({ preloaded: true });
      expect((await preloaded?.loaded)?.model.disposed).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('disposes a preload made with other settings and loads its own', async () => {
    const preloaded = preloadModel({ MODEL_PATH: TINY_MODEL, THREADS: '2' });
    const log = capture();
    const s = await startTestServer({ THREADS: '1' }, { logger: log.logger, engine: { preloaded } });
    try {
      const reply = await s.conn.skill.generate(genReq({ prompt: 'hello', maxTokens: 4 })).response;
      expect(reply.tokensGenerated).toBe(4);
      expect(log.ready()).not.toHaveProperty('preloaded');
      expect((await preloaded?.loaded)?.model.disposed).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('reports a preload that failed as the model load error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'draft-preload-'));
    try {
      const bad = join(dir, 'not-a-model.gguf');
      await writeFile(bad, 'this is not a GGUF file');
      const preloaded = preloadModel({ MODEL_PATH: bad, THREADS: '1' });
      const s = await startTestServer({ MODEL_PATH: bad }, { load: false, engine: { preloaded } });
      try {
        const failure = await s.service.load().catch((e: unknown) => e as Error);
        expect(failure).toBeInstanceOf(Error);
        expect((failure as Error).message).toContain(`MODEL_PATH ${bad} could not be loaded`);
        expect((failure as Error).cause).toMatchObject({ code: 'DRAFT_MODEL_LOAD_FAILED' });
      } finally {
        await s.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('starts nothing when the environment is invalid (the config parse reports it)', () => {
    expect(preloadModel({ MODEL_PATH: TINY_MODEL, THREADS: 'many' })).toBeUndefined();
    expect(preloadModel({ MODEL_PATH: '/nonexistent/model.gguf' })).toBeUndefined();
    expect(preloadModel({})).toBeUndefined();
  });
});
