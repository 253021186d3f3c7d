import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `sarai serve` as the real binary: configuration errors, and SIGTERM draining the process.
const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
let cwd: string;

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'sarai-serve-cmd-'));
});
afterAll(() => rm(cwd, { recursive: true, force: true }));

describe('sarai serve (binary)', () => {
  it('refuses a non-loopback address without an API key, and an unreadable key file', async () => {
    const env = {
      ...process.env,
      SARAI_STATE_DIR: join(cwd, 'state'),
      SARAI_API_KEY: '',
      SARAI_API_KEY_FILE: '',
    };
    const noKey = await promisify(execFile)(process.execPath, [main, 'serve', '--host', '0.0.0.0'], {
      cwd,
      env,
    }).catch((e: { code: number; stderr: string }) => e);
    expect(noKey).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/needs an API key: set SARAI_API_KEY_FILE/),
    });
    const badFile = await promisify(execFile)(process.execPath, [main, 'serve'], {
      cwd,
      env: { ...env, SARAI_API_KEY_FILE: join(cwd, 'missing') },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(badFile).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/cannot read SARAI_API_KEY_FILE/),
    });
  });

  it('serves embedded skills and drains on SIGTERM (exit 0)', async () => {
    const child = spawn(process.execPath, [main, 'serve', '--embedded', '--port', '0'], {
      cwd,
      env: { ...process.env, SARAI_STATE_DIR: join(cwd, 'state'), LOG_LEVEL: 'error', THREADS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) resolve(m[1] as string);
      });
      child.once('exit', () => reject(new Error(`exited early:\n${stderr}`)));
    });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 30_000 }).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: draining/);
    expect(stderr).toMatch(/sarai serve: stopped/);
  });
});
