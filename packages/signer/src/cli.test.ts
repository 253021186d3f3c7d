// Runs the built CLI (bin/sarai-signer.mjs → dist/cli.js) as a child process, like `sarai-signer` on PATH.
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_SEPARATOR } from './envelope.js';
import { reflectionPrompt, tempDir } from './test-support.js';

const CLI = resolve(import.meta.dirname, '../bin/sarai-signer.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const env: Record<string, string> = {};
    for (const name of ['PATH', 'HOME', 'TMPDIR'])
      if (process.env[name] !== undefined) env[name] = process.env[name] as string;
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

function expectNoStack(run: Run): void {
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stderr).not.toContain('PRIVATE KEY');
}

let dir: { path: string; cleanup: () => Promise<void> };
let keyDir: string;
let fingerprint: string;
const text = reflectionPrompt(3);

beforeAll(async () => {
  dir = await tempDir('sarai-cli-');
  keyDir = join(dir.path, 'keys');
  const run = await cli(['keygen', '--name', 'SARAi Dev', '--email', 'sarai@localhost', '--out', keyDir]);
  expect(run.code, run.stderr).toBe(0);
  fingerprint = run.stdout.trim();
}, 60_000);
afterAll(() => dir.cleanup());

describe('sarai-signer keygen', () => {
  it('writes private.asc (0600) and public.asc and prints only the fingerprint', async () => {
    expect(fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect((await stat(join(keyDir, 'private.asc'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(keyDir, 'private.asc'), 'utf8')).toContain('BEGIN PGP PRIVATE KEY BLOCK');
    expect(await readFile(join(keyDir, 'public.asc'), 'utf8')).toContain('BEGIN PGP PUBLIC KEY BLOCK');
  });

  it('refuses to overwrite without --force', async () => {
    const run = await cli(['keygen', '--name', 'X', '--email', 'x@example.com', '--out', keyDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('SIGNER_FILE_EXISTS');
    expectNoStack(run);
  });

  it('encrypts with --passphrase-env and never prints the passphrase', async () => {
    const out = join(dir.path, 'locked');
    const run = await cli(
      ['keygen', '--name', 'Locked', '--email', 'locked@example.com', '--passphrase-env', 'PW', '--out', out],
      {
        env: { PW: 's3cret-pass' },
      },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain('s3cret-pass');
    const key = join(out, 'private.asc');
    const signed = await cli(['sign', '--key', key, '--passphrase-env', 'PW'], {
      env: { PW: 's3cret-pass' },
      input: 'hi',
    });
    expect(signed.code, signed.stderr).toBe(0);
    const wrong = await cli(['sign', '--key', key], {
      env: { SARAI_SIGNING_PASSPHRASE: 'nope-wrong' },
      input: 'hi',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('SIGNER_BAD_PASSPHRASE');
    expect(wrong.stderr).not.toContain('nope-wrong');
    expectNoStack(wrong);
    const missing = await cli(['sign', '--key', key], { input: 'hi' });
    expect(missing.stderr).toContain('SIGNER_PASSPHRASE_REQUIRED');
  });

  it('usage errors exit 2 with a message and the usage, no stack trace', async () => {
    for (const args of [
      ['keygen', '--name', 'X', '--email', 'x@example.com'],
      [
        'keygen',
        '--name',
        'X',
        '--email',
        'x@example.com',
        '--out',
        join(dir.path, 'y'),
        '--passphrase-env',
        'UNSET_VAR',
      ],
      ['keygen', '--name', 'X', '--email', 'not an email', '--out', join(dir.path, 'z')],
      ['frobnicate'],
      [],
      ['sign', '--bogus'],
      ['verify'],
      ['audit-verify'],
      ['audit-verify', 'log', '--head', 'nope'],
    ]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^sarai-signer: /);
      expect(run.stderr).toContain('Usage: sarai-signer');
      expectNoStack(run);
    }
  });
});

describe('sarai-signer sign / verify / audit-verify', () => {
  it('signs stdin with the key from SARAI_SIGNING_KEY_FILE and verifies it', async () => {
    const env = { SARAI_SIGNING_KEY_FILE: join(keyDir, 'private.asc') };
    const signed = await cli(['sign'], { env, input: text });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout.startsWith(text + SIGNATURE_SEPARATOR + '-----BEGIN PGP SIGNATURE-----')).toBe(true);
    expectNoStack(signed);

    const file = join(dir.path, 'signed.txt');
    await writeFile(file, signed.stdout);
    const ok = await cli(['verify', '--trusted', join(keyDir, 'public.asc'), '--in', file]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, reason: 'ok', fingerprint });

    const tampered = await cli(['verify', '--trusted', join(keyDir, 'public.asc')], {
      input: signed.stdout.replace('Iteration 3/3', 'Iteration 1/3'),
    });
    expect(tampered.code).toBe(1);
    expect(JSON.parse(tampered.stdout)).toMatchObject({ valid: false, reason: 'tampered' });

    const unsigned = await cli(['verify', '--trusted', join(keyDir, 'public.asc')], { input: text });
    expect(JSON.parse(unsigned.stdout)).toMatchObject({ valid: false, reason: 'missing-signature' });
  });

  it('SARAI_LOG_LEVEL=info logs JSON events on stderr without the prompt or the key', async () => {
    const run = await cli(['sign', '--key', join(keyDir, 'private.asc')], {
      env: { SARAI_LOG_LEVEL: 'info' },
      input: 'very private prompt',
    });
    expect(run.code, run.stderr).toBe(0);
    const events = run.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toEqual([expect.objectContaining({ event: 'prompt-signed', fingerprint })]);
    expect(run.stderr).not.toContain('very private prompt');
    expectNoStack(run);
  });

  it('sign errors (no key configured, unknown selector) exit 1 with the code', async () => {
    const none = await cli(['sign'], { input: 'x' });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('SIGNER_NO_KEY_SOURCE');
    const nomatch = await cli(
      ['sign', '--key', join(keyDir, 'private.asc'), '--key-id', 'nobody@example.com'],
      { input: 'x' },
    );
    expect(nomatch.code).toBe(1);
    expect(nomatch.stderr).toContain('SIGNER_KEY_NOT_FOUND');
    expectNoStack(nomatch);
  });

  it('sign --audit appends records; audit-verify reports ok, then the tampering', async () => {
    const log = join(dir.path, 'audit', 'prompts.jsonl');
    const env = { SARAI_SIGNING_KEY: await readFile(join(keyDir, 'private.asc'), 'utf8') };
    for (let i = 0; i < 3; i++) {
      const run = await cli(['sign', '--audit', log, '--out', join(dir.path, `p${i}.txt`)], {
        env,
        input: `${text}${i}`,
      });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`appended seq ${i}`);
      expect(run.stdout).toBe('');
    }
    const clean = await cli(['audit-verify', log, '--trusted', join(keyDir, 'public.asc')]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, records: 3, problems: [] });

    const lines = (await readFile(log, 'utf8')).split('\n');
    await writeFile(log, [lines[0], lines[2], ''].join('\n'));
    const broken = await cli(['audit-verify', log]);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, problems: [{ kind: 'deleted', seq: 1 }] });

    const missing = await cli(['audit-verify', join(dir.path, 'nope.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('SIGNER_AUDIT_IO');
  });
});
