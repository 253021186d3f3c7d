// The entry point as the image runs it (dist/main.js): configuration errors exit non-zero with one line naming the
// setting, before anything listens.
import { execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TINY_MODEL } from './test-support/models.js';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

async function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [MAIN], {
      env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '-1', ...env },
      timeout: 30_000,
    });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

describe('main (configuration errors)', () => {
  it.each([
    [{}, /MODEL_PATH/],
    [{ MODEL_PATH: '/nonexistent/model.gguf' }, /MODEL_PATH: no such file/],
    [{ MODEL_PATH: TINY_MODEL, THREADS: 'many' }, /THREADS/],
    [{ MODEL_PATH: TINY_MODEL, MAX_CONCURRENT: '0' }, /MAX_CONCURRENT/],
    [{ MODEL_PATH: TINY_MODEL, MAX_QUEUE: '-1' }, /MAX_QUEUE/],
    [
      { MODEL_PATH: TINY_MODEL, CONTEXT_SIZE: '512', MAX_TOKENS_LIMIT: '600' },
      /MAX_TOKENS_LIMIT: must be below CONTEXT_SIZE/,
    ],
    [{ MODEL_PATH: TINY_MODEL, ADAPTERS: 'oops' }, /ADAPTERS: "oops" is not name=path/],
    [
      { MODEL_PATH: TINY_MODEL, ACTIVE_ADAPTER: 'v2' },
      /ACTIVE_ADAPTER: "v2" is not one of the ADAPTERS names/,
    ],
    [{ MODEL_PATH: TINY_MODEL, ADAPTERS_DIR: '/adapters' }, /TRUSTED_KEYS_FILE: required with ADAPTERS_DIR/],
    [
      { MODEL_PATH: TINY_MODEL, ADAPTERS_DIR: '/adapters', TRUSTED_KEYS_FILE: '/nonexistent/keys.asc' },
      /TRUSTED_KEYS_FILE: no such file/,
    ],
    [
      {
        MODEL_PATH: TINY_MODEL,
        ADAPTERS_DIR: '/adapters',
        TRUSTED_KEYS_FILE: TINY_MODEL,
        ADAPTERS_PER_MODEL: '1',
      },
      /ADAPTERS_PER_MODEL: must be at least 2/,
    ],
  ])('rejects %j with exit code 2 and one line naming the setting', async (env, message) => {
    const { code, stderr } = await start(env);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^error \[RUNTIME_BAD_CONFIG\]/);
  });

  it('exits 1 with one line naming MODEL_PATH when the file is not a loadable GGUF', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'draft-main-'));
    try {
      const bogus = join(dir, 'bogus.gguf');
      await writeFile(bogus, 'not a gguf file');
      const { code, stderr } = await start({ MODEL_PATH: bogus });
      expect(code).toBe(1);
      expect(stderr).toMatch(/^error \[RUNTIME_START_FAILED\]: MODEL_PATH .*bogus\.gguf could not be loaded/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 naming ADAPTERS when an adapter file is missing', async () => {
    const { code, stderr } = await start({ MODEL_PATH: TINY_MODEL, ADAPTERS: 'v1=/nonexistent/lora.gguf' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/ADAPTERS: adapter "v1" file \/nonexistent\/lora\.gguf does not exist/);
  });
});
