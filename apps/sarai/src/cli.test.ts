import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The real binary (dist/main.js, built by the test target's dependencies) in a scratch working directory.
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const run = promisify(execFile);
let cwd: string;
let model: string;

async function sarai(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const r = await run(process.execPath, [main, ...args], {
      cwd,
      env: { ...process.env, LOG_LEVEL: 'error', ...env },
      timeout: 170_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'sarai-cli-'));
  const { ensureModel } = await import('@sarai/skill-draft');
  model = (await ensureModel(join(cwd, 'models'), { preset: 'tiny', type: 'Q8_0', seed: 1 })).path;
});
afterAll(() => rm(cwd, { recursive: true, force: true }));

describe('sarai CLI: user errors', () => {
  it('no command prints usage and exits 2; unknown commands and bad options are one line, no stack trace', async () => {
    const none = await sarai([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/Usage: sarai <command>/);
    const unknown = await sarai(['fly']);
    expect(unknown).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^sarai: unknown command "fly"\n/),
    });
    const noPrompt = await sarai(['loop']);
    expect(noPrompt).toMatchObject({ code: 2, stderr: expect.stringMatching(/loop needs a prompt/) });
    const badIt = await sarai(['loop', 'q', '--iterations', '7']);
    expect(badIt).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--iterations must be an integer from 1 to 3, got "7"/),
    });
    const badFlag = await sarai(['loop', 'q', '--frobnicate']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/Unknown option '--frobnicate'/);
    for (const r of [unknown, noPrompt, badIt, badFlag]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a dead draft skill without a fallback model fails clearly; with one, the loop answers through it', async () => {
    const env = { SARAI_SKILL_DRAFT_ADDR: '127.0.0.1:1', SARAI_STATE_DIR: join(cwd, 'state-dead') };
    const noFallback = await sarai(['loop', 'hello', '--iterations', '1'], env);
    expect(noFallback.code).toBe(1);
    expect(noFallback.stderr).toMatch(/draft skill is unavailable .*SARAI_FALLBACK_MODEL to a GGUF file/);
    const withFallback = await sarai(['loop', 'hello', '--iterations', '2', '--json'], {
      ...env,
      SARAI_FALLBACK_MODEL: model,
    });
    expect(withFallback.code).toBe(0);
    const r = JSON.parse(withFallback.stdout) as {
      fallbackUsed: boolean;
      iterations: Array<{ source: string }>;
    };
    expect(r.fallbackUsed).toBe(true);
    expect(r.iterations.every((i) => i.source === 'fallback')).toBe(true);
  });
});

describe('sarai loop --embedded (the README main job)', () => {
  it('answers through real local skills, says the model is a stand-in, and its audit log verifies', async () => {
    // generous draft deadline: this box may be busy, and a slow draft would (rightly) go to the fallback
    const r = await sarai([
      'loop',
      'Why is the sky blue?',
      '--embedded',
      '--threshold',
      '1',
      '--max-tokens',
      '48',
      '--deadline',
      '120000',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/stand-in model \(random weights\)/);
    expect(r.stderr).toMatch(/SARAI_DRAFT_MODEL=/);
    expect(r.stdout).toMatch(
      /^SARAi Omni-Loop: [23] iteration\(s\), stopped: (max-iterations|unchanged), \d+ ms, fallback used: no/,
    );
    expect(r.stdout).toMatch(/\[1\] skill, confidence \d\.\d{3}/);
    expect(r.stdout).toMatch(
      /\[2\] skill, confidence \d\.\d{3}, \d+ ms, reflection prompt signed by [0-9A-F]{16}/,
    );
    expect(r.stdout).toMatch(/\nAnswer:\n/);

    const verify = await sarai([
      'audit',
      'verify',
      'state/audit.jsonl',
      '--trusted',
      'state/keys/public.asc',
      '--interactions',
      'state/interactions.jsonl',
    ]);
    expect(verify).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/state\/audit.jsonl: [12] record\(s\), OK, signatures checked/),
    });

    // tamper with the audit log: verification names the problem and exits 1
    const audit = join(cwd, 'state/audit.jsonl');
    const lines = (await readFile(audit, 'utf8')).trim().split('\n');
    await writeFile(audit, lines.slice(1).join('\n') + '\n');
    const tampered = await sarai(['audit', 'verify', 'state/audit.jsonl']);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/deleted|problem/);
  });

  it('validate-autocorrection reports consistent counts on the bundled task set', async () => {
    const dataset = join(cwd, 'tasks.json');
    await writeFile(
      dataset,
      JSON.stringify({
        tasks: [
          { id: 'n', prompt: 'Reply 42.', check: { type: 'regex', pattern: '^42$' } },
          { id: 'j', prompt: 'JSON list.', check: { type: 'json-schema', schema: { type: 'array' } } },
        ],
      }),
    );
    const r = await sarai(
      [
        'validate-autocorrection',
        '--embedded',
        '--dataset',
        dataset,
        '--iterations',
        '2',
        '--max-tokens',
        '24',
        '--deadline',
        '120000',
        '--json',
      ],
      {
        SARAI_STATE_DIR: join(cwd, 'state-validate'),
      },
    );
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as {
      tasks: number;
      firstRight: number;
      finalRight: number;
      wrongToRight: number;
      rightToWrong: number;
    };
    expect(rep.tasks).toBe(2);
    expect(rep.finalRight).toBe(rep.firstRight + rep.wrongToRight - rep.rightToWrong);
    const bad = await sarai(['validate-autocorrection', '--dataset', join(cwd, 'nope.json')]);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/cannot read dataset/) });
  });
});

describe('sarai lora nightly --local', () => {
  it('trains, signs and publishes an adapter from the interaction log; a second run has nothing new (exit 3)', async () => {
    const state = join(cwd, 'state-lora');
    const env = { SARAI_STATE_DIR: state };
    expect((await sarai(['keys', 'generate'], env)).code).toBe(0);
    const pairs = [
      ['What is 2+2?', '4'],
      ['Capital of France?', 'Paris'],
      ['Reverse "abc".', 'cba'],
      ['Largest of 1, 5, 3?', '5'],
      ['Minutes in 3 hours?', '180'],
      ['Is 91 prime?', 'No'],
    ];
    const lines = pairs.map(([prompt, answer]) =>
      JSON.stringify({
        v: 1,
        ts: new Date().toISOString(),
        prompt,
        iterations: [
          {
            iteration: 1,
            sentPrompt: prompt,
            response: 'wrong',
            confidence: 0.3,
            corrected: false,
            source: 'skill',
            checks: [{ checker: 'c', pass: false, feedback: 'no' }],
          },
          {
            iteration: 2,
            sentPrompt: `reflect: ${prompt}`,
            response: answer,
            confidence: 0.9,
            corrected: true,
            source: 'skill',
            checks: [{ checker: 'c', pass: true, feedback: 'ok' }],
          },
        ],
        final: answer,
        autoCorrected: true,
        checkersPassed: true,
        hadCheckers: true,
      }),
    );
    await writeFile(join(state, 'interactions.jsonl'), lines.join('\n') + '\nnot json\n');
    const first = await sarai(
      ['lora', 'nightly', '--local', '--base', model, '--', '--epochs', '1', '--threads', '1'],
      env,
    );
    expect(first.code, first.stderr).toBe(0);
    const { readdir } = await import('node:fs/promises');
    const files = await readdir(join(state, 'lora', 'adapters'));
    expect(files.some((f) => /^lora_\d{8}(-\d+)?\.gguf$/.test(f))).toBe(true);
    expect(files.some((f) => f.endsWith('.manifest.json.asc'))).toBe(true);
    const again = await sarai(
      ['lora', 'nightly', '--local', '--base', model, '--', '--epochs', '1', '--threads', '1'],
      env,
    );
    expect(again.code).toBe(3);
    const noBase = await sarai(['lora', 'nightly', '--local'], env);
    expect(noBase).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no base model: pass --base FILE or set SARAI_LORA_BASE_MODEL/),
    });
  });
});

describe('sarai loop --test and image cache-stats', () => {
  it('the smoke test passes against an embedded deployment', async () => {
    const r = await sarai(['loop', '--test', '--embedded'], { SARAI_STATE_DIR: join(cwd, 'state-smoke') });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ok {4}draft health \(127\.0\.0\.1:\d+\): SERVING/);
    expect(r.stdout).toMatch(/ok {4}image PreprocessImage: \S+\.webp \(pHash [0-9a-f]+, miss\)/);
    expect(r.stdout).toMatch(
      /ok {4}signed loop \(2 iterations\): 2 iterations, audit log verifies \(1 record\(s\)\)/,
    );
    expect(r.stdout).toMatch(/smoke test passed/);
  });

  it('reads the cache statistics of a running skill-image; a dead address is a clear failure', async () => {
    const { spawn } = await import('node:child_process');
    const { createRequire } = await import('node:module');
    const { dirname: dir } = await import('node:path');
    const main = join(
      dir(createRequire(import.meta.url).resolve('@sarai/skill-image/package.json')),
      'dist',
      'main.js',
    );
    const port = 40_000 + (process.pid % 20_000);
    const child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        METRICS_PORT: '-1',
        CACHE_DIR: join(cwd, 'cache-stats'),
        LOG_LEVEL: 'error',
      },
      stdio: 'ignore',
    });
    try {
      let r = await sarai(['image', 'cache-stats', '--addr', `127.0.0.1:${port}`]);
      for (let i = 0; i < 50 && r.code !== 0; i++) {
        await new Promise((res) => setTimeout(res, 200));
        r = await sarai(['image', 'cache-stats', '--addr', `127.0.0.1:${port}`]);
      }
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /skill-image cache at 127\.0\.0\.1:\d+\n {2}hits {6}0 \(exact 0, near-duplicate 0\)\n {2}misses {4}0\n {2}hit rate {2}0\.0%/,
      );
    } finally {
      child.kill('SIGTERM');
    }
    const dead = await sarai(['image', 'cache-stats', '--addr', '127.0.0.1:1']);
    expect(dead).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/cannot read cache stats from 127\.0\.0\.1:1: UNAVAILABLE/),
    });
  });
});
