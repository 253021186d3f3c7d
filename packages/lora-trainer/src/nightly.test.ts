import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKeyPair, type PromptSigner } from '@sarai/signer';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { sha256Text } from '@sarai/formats';
import { sha256File } from './files.js';
import { verifyAdapterManifest } from './manifest.js';
import { NIGHTLY_EXIT_CODES, runNightly, type RunNightlyOptions } from './nightly.js';
import { testKeyPair, testSigner, toyInteractionLog } from './test-support/fixtures.js';
import { TINY_MODEL } from './test-support/models.js';

const FAST = { rank: 4, epochs: 2, threads: 1, learningRate: 2e-3, progressBar: false } as const;

describe('runNightly (tiny model, real training)', () => {
  let dir: string;
  let signer: PromptSigner;
  let publicKey: string;
  let opts: RunNightlyOptions;
  const day = new Date('2026-11-24T03:00:00Z');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-nightly-'));
    signer = await testSigner();
    publicKey = (await testKeyPair()).publicKeyArmored;
    await writeFile(join(dir, 'interactions.jsonl'), toyInteractionLog(24));
    opts = {
      logPath: join(dir, 'interactions.jsonl'),
      baseModel: TINY_MODEL,
      adaptersDir: join(dir, 'adapters'),
      lockFile: join(dir, 'nightly.lock'),
      signer,
      now: () => day,
      ...FAST,
    };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('trains, signs and publishes lora_YYYYMMDD.gguf with a manifest describing the run (exit 0)', async () => {
    const r = await runNightly(opts);
    expect(r).toMatchObject({ status: 'trained', exitCode: 0 });
    const adapters = opts.adaptersDir;
    expect((await readdir(adapters)).sort()).toEqual([
      'lora_20261124.dataset.jsonl',
      'lora_20261124.gguf',
      'lora_20261124.manifest.json',
      'lora_20261124.manifest.json.asc',
    ]);
    const verified = await verifyAdapterManifest({
      manifestPath: join(adapters, 'lora_20261124.manifest.json'),
      trusted: publicKey,
    });
    expect(verified.fingerprint).toBe(signer.fingerprint);
    const m = verified.manifest;
    expect(m.adapter).toEqual({
      file: 'lora_20261124.gguf',
      sha256: await sha256File(join(adapters, 'lora_20261124.gguf')),
      bytes: expect.any(Number),
    });
    expect(m.baseModel).toMatchObject({
      file: 'sarai-tiny-q8_0-s1.gguf',
      sha256: await sha256File(TINY_MODEL),
      architecture: 'qwen2',
    });
    const datasetText = await readFile(join(adapters, 'lora_20261124.dataset.jsonl'), 'utf8');
    expect(m.dataset).toMatchObject({
      file: 'lora_20261124.dataset.jsonl',
      sha256: sha256Text(datasetText),
      records: 25,
      malformed: 2,
      notImproved: 1,
    });
    expect(m.dataset.train + m.dataset.eval).toBe(24);
    expect(m.hyperParameters).toMatchObject({
      rank: 4,
      alpha: 8,
      epochs: 2,
      learningRate: 2e-3,
      contextSize: 256,
      evalFraction: 0.1,
    });
    expect(m.losses.evalAfter).toBeLessThan(m.losses.evalBefore);
    expect(m.losses.trainPerEpoch).toHaveLength(2);
    expect(m.durationMs).toBeGreaterThanOrEqual(0);
    expect(m.trainer).toMatchObject({
      name: '@sarai/lora-trainer',
      llamaVersion: expect.stringMatching(/^0\.5\.0/),
    });
    expect((await readdir(adapters)).includes('.staging')).toBe(false); // the staging area is cleaned up
  });

  it('has nothing to train when the log did not change since the newest adapter (exit 3)', async () => {
    const r = await runNightly(opts);
    expect(r).toMatchObject({ status: 'nothing-to-train', exitCode: NIGHTLY_EXIT_CODES.nothingToTrain });
    expect(r.reason).toMatch(/same dataset/);
    expect(await readdir(opts.adaptersDir)).toHaveLength(4);
  });

  it('trains a new adapter under a new name when the log grew, never touching the previous one (exit 0)', async () => {
    const before = await sha256File(join(opts.adaptersDir, 'lora_20261124.gguf'));
    await appendFile(opts.logPath, toyInteractionLog(6, 100));
    const r = await runNightly(opts);
    expect(r).toMatchObject({ status: 'trained', exitCode: 0 });
    expect(r.artifacts?.adapter).toBe(join(opts.adaptersDir, 'lora_20261124-2.gguf'));
    expect(await sha256File(join(opts.adaptersDir, 'lora_20261124.gguf'))).toBe(before);
    await verifyAdapterManifest({
      manifestPath: join(opts.adaptersDir, 'lora_20261124-2.manifest.json'),
      trusted: publicKey,
    });
  });

  it('has nothing to train when no run passed its checkers or was corrected (exit 3)', async () => {
    const empty = join(dir, 'empty.jsonl');
    await writeFile(empty, '{"broken\n');
    const r = await runNightly({ ...opts, logPath: empty, adaptersDir: join(dir, 'other') });
    expect(r).toMatchObject({ status: 'nothing-to-train', exitCode: 3 });
  });

  it('reports a held lock (exit 4): another process, or an overlapping run in this one', async () => {
    const lockDir = `${opts.lockFile}.lock`; // what proper-lockfile creates: fresh, so not stale
    await mkdir(lockDir);
    try {
      expect(await runNightly({ ...opts, force: true })).toMatchObject({ status: 'locked', exitCode: 4 });
    } finally {
      await rm(lockDir, { recursive: true });
    }
    const [a, b] = await Promise.all([
      runNightly({ ...opts, force: true }),
      runNightly({ ...opts, force: true }),
    ]);
    expect([a.exitCode, b.exitCode].sort()).toEqual([0, 4]);
  });

  it('fails with exit 1 and a TrainerError when the signing key is unusable, publishing nothing', async () => {
    const before = await readdir(opts.adaptersDir);
    const r = await runNightly({
      ...opts,
      signer: undefined,
      signingKey: { armoredKey: 'not a key', env: {} },
      force: true,
    });
    expect(r).toMatchObject({ status: 'error', exitCode: 1, error: { code: 'TRAINER_SIGNING_FAILED' } });
    const r2 = await runNightly({ ...opts, baseModel: join(dir, 'absent.gguf'), force: true });
    expect(r2).toMatchObject({ status: 'error', exitCode: 1, error: { code: 'TRAINER_MODEL_LOAD_FAILED' } });
    expect(await readdir(opts.adaptersDir)).toEqual(before);
  });

  it('manifest verification rejects another key, a tampered manifest and a swapped adapter', async () => {
    const manifestPath = join(opts.adaptersDir, 'lora_20261124.manifest.json');
    const stranger = await generateSigningKeyPair({ name: 'Mallory', email: 'm@example.com' });
    await expect(verifyAdapterManifest({ manifestPath, trusted: stranger.publicKeyArmored })).rejects.toThrow(
      /untrusted-key/,
    );

    const copy = join(dir, 'copy');
    await mkdir(copy);
    for (const f of [
      'lora_20261124.gguf',
      'lora_20261124.manifest.json',
      'lora_20261124.manifest.json.asc',
    ]) {
      await writeFile(join(copy, f), await readFile(join(opts.adaptersDir, f)));
    }
    const text = await readFile(join(copy, 'lora_20261124.manifest.json'), 'utf8');
    await writeFile(join(copy, 'lora_20261124.manifest.json'), text.replace('"rank": 4', '"rank": 5'));
    await expect(
      verifyAdapterManifest({ manifestPath: join(copy, 'lora_20261124.manifest.json'), trusted: publicKey }),
    ).rejects.toThrow(/tampered/);
    await writeFile(join(copy, 'lora_20261124.manifest.json'), text);
    await writeFile(
      join(copy, 'lora_20261124.gguf'),
      await readFile(join(opts.adaptersDir, 'lora_20261124-2.gguf')),
    );
    await expect(
      verifyAdapterManifest({ manifestPath: join(copy, 'lora_20261124.manifest.json'), trusted: publicKey }),
    ).rejects.toMatchObject({
      code: 'TRAINER_MANIFEST_INVALID',
      message: expect.stringMatching(/does not match/),
    });
  });
});

describe('sarai-lora-trainer CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-cli-'));
    await writeFile(join(dir, 'interactions.jsonl'), toyInteractionLog(12));
    await writeFile(join(dir, 'key.asc'), (await testKeyPair()).privateKeyArmored, { mode: 0o600 });
    await writeFile(join(dir, 'pub.asc'), (await testKeyPair()).publicKeyArmored);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l), env: {} },
    };
  };

  it('nightly trains from flags and prints one JSON result line; verify accepts the manifest', async () => {
    const c = io();
    const args = [
      '--log',
      join(dir, 'interactions.jsonl'),
      '--base',
      TINY_MODEL,
      '--adapters',
      join(dir, 'adapters'),
    ];
    const more = [
      '--lock',
      join(dir, 'n.lock'),
      '--key-file',
      join(dir, 'key.asc'),
      '--rank',
      '2',
      '--epochs',
      '1',
      '--threads',
      '1',
    ];
    const code = await runCli(['nightly', ...args, ...more], { ...c.io, logger: pino({ enabled: false }) });
    expect(code).toBe(0);
    const line = JSON.parse(c.out.at(-1) as string) as { status: string; artifacts: { manifest: string } };
    expect(line.status).toBe('trained');
    const v = io();
    expect(
      await runCli(
        ['verify', '--manifest', line.artifacts.manifest, '--trusted-key', join(dir, 'pub.asc')],
        v.io,
      ),
    ).toBe(0);
    expect(JSON.parse(v.out[0] as string)).toMatchObject({ valid: true });
    const again = io();
    expect(
      await runCli(['nightly', ...args, ...more], { ...again.io, logger: pino({ enabled: false }) }),
    ).toBe(3);
  });

  it('exits 2 with the usage on bad flags', async () => {
    const c = io();
    expect(await runCli(['nightly', '--rank', 'many'], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/--rank must be a number[\s\S]*usage:/);
    expect(await runCli(['bogus'], io().io)).toBe(2);
    expect(await runCli(['nightly', '--unknown-flag'], io().io)).toBe(2);
  });
});
