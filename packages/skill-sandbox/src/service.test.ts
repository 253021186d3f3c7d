import { connectSandbox, Language, StopReason, type SandboxConnection } from '@sarai/sandbox-contract';
import { startSkill, type SkillHandle } from '@sarai/skill-runtime';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxConfig } from './config.js';
import type { RunnerOptions } from './runner/run-tests.js';
import { sandboxSkill } from './skill.js';

let skill: SkillHandle<SandboxConfig, RunnerOptions>;
let conn: SandboxConnection;

beforeAll(async () => {
  skill = await startSkill(sandboxSkill);
  conn = connectSandbox(`127.0.0.1:${skill.port}`);
});
afterAll(async () => {
  conn.close();
  await skill.shutdown();
});

const add = (code: string) => ({
  code,
  language: Language.JAVASCRIPT,
  functionName: 'add',
  tests: [
    { argsJson: '[1, 2]', expectedJson: '3' },
    { argsJson: '[2, 2]', expectedJson: '4' },
  ],
});

describe('sandbox skill over gRPC', () => {
  it('runs tests and answers per test with time and memory', async () => {
    const { response } = await conn.client.runTests(add('const add = (a, b) => a * b;'));
    expect(response.results).toEqual([
      { passed: false, gotJson: '2', error: '' },
      { passed: true, gotJson: '4', error: '' },
    ]);
    expect(response.stopReason).toBe(StopReason.OK);
    expect(Number(response.peakMemoryBytes)).toBeGreaterThan(0);
  });

  it('bad requests get INVALID_ARGUMENT with what to fix, and the service keeps serving', async () => {
    await expect(
      conn.client.runTests({ ...add('x'), tests: [{ argsJson: '[1,', expectedJson: '3' }] }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/SANDBOX_BAD_REQUEST: tests\[0\]\.args_json is not JSON/),
    });
    await expect(conn.client.runTests({ ...add('x'), functionName: '1x' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const { response } = await conn.client.runTests(add('function add(a, b) { return a + b; }'));
    expect(response.results.every((r) => r.passed)).toBe(true);
  });

  it('a hostile request stops with its reason while a concurrent honest one passes', async () => {
    const [bomb, honest] = await Promise.all([
      conn.client.runTests({ ...add('function add() { for (;;) console.log("x".repeat(9999)); }') }),
      conn.client.runTests(add('function add(a, b) { return a + b; }')),
    ]);
    expect(bomb.response.stopReason).toBe(StopReason.OUTPUT_LIMIT);
    expect(honest.response.results.every((r) => r.passed)).toBe(true);
  });
});

describe('sandbox skill with SANDBOX_NETWORK=auto (as embedded)', () => {
  it('starts, and runs tests with or without a network namespace', async () => {
    const h = await startSkill(sandboxSkill, { config: { SANDBOX_NETWORK: 'auto' } });
    try {
      const c = connectSandbox(`127.0.0.1:${h.port}`);
      const { response } = await c.client.runTests(add('function add(a, b) { return a + b; }'));
      c.close();
      expect(response.results.every((r) => r.passed)).toBe(true);
    } finally {
      await h.shutdown();
    }
  });
});

describe('sandbox skill on a unix socket (HOST=unix:/path, as in the network-less container)', () => {
  it('replaces a socket a killed instance left behind, serves there, and refuses a socket in use', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbx-sock-'));
    const sock = join(dir, 'sandbox.sock');
    // a stale socket: its server was SIGKILLed and never unlinked it
    const dead = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(sock)})`,
    ]);
    while (!existsSync(sock)) await new Promise((r) => setTimeout(r, 10));
    dead.kill('SIGKILL');
    await new Promise((r) => dead.once('exit', r));
    const h = await startSkill(sandboxSkill, { config: { HOST: `unix:${sock}` } });
    try {
      const c = connectSandbox(`unix:${sock}`);
      const { response } = await c.client.runTests(add('function add(a, b) { return a + b; }'));
      c.close();
      expect(response.results.every((r) => r.passed)).toBe(true);
      await expect(startSkill(sandboxSkill, { config: { HOST: `unix:${sock}` } })).rejects.toThrow(
        /another process listens on/,
      );
    } finally {
      await h.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
