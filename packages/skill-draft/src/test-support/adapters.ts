// Published adapters for tests and the swap benchmark: LoRA GGUFs from the GGUF writer plus manifests in the
// trainer's format (`sarai.lora-manifest/v1`, serialized as the trainer does) with an armored detached signature,
// published in the trainer's order (signature, manifest, then the adapter, each by rename).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ADAPTER_FILE,
  adapterArtifacts,
  compareAdapterFiles,
  meta as gguf,
  serializeAdapterManifest,
  sha256File,
  sha256Text,
  writeGguf,
  type AdapterManifest,
} from '@sarai/formats';
import { PromptSigner, generateSigningKeyPair, type GeneratedKeyPair } from '@sarai/signer';
import { generateLoraAdapter } from '../gguf/models.js';

export interface TestKey {
  pair: GeneratedKeyPair;
  signer: PromptSigner;
}

export async function testKey(name = 'SARAi adapters test'): Promise<TestKey> {
  const pair = await generateSigningKeyPair({ name, email: 'sarai@localhost' });
  return { pair, signer: await PromptSigner.fromKey(pair.privateKeyArmored) };
}

/** sha256 of a file (@sarai/formats' `sha256File`). */
export { sha256File as fileSha256 };

/** The next unused published name in `dir`: `lora_20261124`, then `lora_20261124-1`, ... after the newest file. */
export async function nextAdapterFileName(dir: string, date = '20261124'): Promise<string> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => ADAPTER_FILE.test(f));
  const newest = files.sort(compareAdapterFiles).at(-1);
  if (!newest) return `lora_${date}.gguf`;
  const m = ADAPTER_FILE.exec(newest) as RegExpExecArray;
  return `lora_${m[1]}-${Number(m[2] ?? 0) + 1}.gguf`;
}

/** A manifest exactly as @sarai/lora-trainer writes it (@sarai/formats' schema and serialization). */
export function trainerManifest(o: {
  adapterFile: string;
  adapterSha256: string;
  adapterBytes: number;
  baseFile: string;
  baseSha256: string;
  baseBytes: number;
  architecture: string;
  fingerprint: string;
}): string {
  const manifest: AdapterManifest = {
    schema: 'sarai.lora-manifest/v1',
    adapter: { file: o.adapterFile, sha256: o.adapterSha256, bytes: o.adapterBytes },
    baseModel: { file: o.baseFile, sha256: o.baseSha256, bytes: o.baseBytes, architecture: o.architecture },
    dataset: {
      file: o.adapterFile.replace(/\.gguf$/, '.dataset.jsonl'),
      sha256: sha256Text(''),
      train: 0,
      eval: 0,
      evalHeldOut: false,
      records: 0,
      malformed: 0,
      notImproved: 0,
      duplicates: 0,
      tokens: { train: 0, eval: 0, trainRows: 0, evalRows: 0, contextSize: 256 },
    },
    hyperParameters: {
      rank: 4,
      alpha: 8,
      targets: ['attn_q', 'attn_output', 'ffn_up', 'ffn_down'],
      learningRate: 0.001,
      learningRateMin: 0.001,
      weightDecay: 0,
      optimizer: 'adamw',
      epochs: 1,
      contextSize: 256,
      threads: 1,
      seed: 42,
      systemPrompt: null,
      evalFraction: 0.1,
    },
    losses: { evalBefore: 1, evalAfter: 1, trainPerEpoch: [1] },
    throughput: { trainTokensPerSecond: 1, evalTokensPerSecond: 1 },
    trainableParameters: 0,
    startedAt: '2026-11-24T02:00:00.000Z',
    finishedAt: '2026-11-24T02:00:01.000Z',
    durationMs: 1000,
    trainer: { name: '@sarai/lora-trainer', version: '0.1.0', llamaVersion: 'test', template: 'model' },
    signer: { fingerprint: o.fingerprint },
  };
  return serializeAdapterManifest(manifest);
}

export interface PublishOptions {
  dir: string;
  baseModelPath: string;
  /** Signs the manifest; omit with `unsigned`. */
  key: TestKey;
  /** Seed of the random adapter weights (different seeds = different outputs). */
  seed: number;
  /** File name; default {@link nextAdapterFileName}. */
  fileName?: string;
  /** Base sha256 written into the manifest (default: the real one). */
  baseSha256?: string;
  /** Leave out the signature file. */
  unsigned?: boolean;
  /** Replace the adapter bytes before the manifest is made (e.g. garbage: signed but not a GGUF). */
  adapterBytes?: Buffer;
  /** Flip a byte of the adapter after the manifest was signed. */
  tamperAfterSigning?: boolean;
  /** general.architecture of the adapter (default qwen2, the tiny model's). */
  architecture?: string;
  /** Std of the adapter weights (default 0.5: a visible change on the tiny model). */
  std?: number;
}

/** Writes a signed adapter into `.staging/` and publishes it like the trainer; returns its path and name. */
export async function publishTestAdapter(o: PublishOptions): Promise<{ path: string; name: string }> {
  const fileName = o.fileName ?? (await nextAdapterFileName(o.dir));
  const staging = join(o.dir, '.staging', String(process.pid));
  await mkdir(staging, { recursive: true });
  const tmp = join(staging, fileName);
  if (o.adapterBytes) await writeFile(tmp, o.adapterBytes);
  else if (o.architecture && o.architecture !== 'qwen2') {
    await writeGguf(tmp, {
      metadata: [
        ['general.architecture', gguf.str(o.architecture)],
        ['general.type', gguf.str('adapter')],
        ['adapter.type', gguf.str('lora')],
        ['adapter.lora.alpha', gguf.f32(8)],
      ],
      tensors: [
        { name: 'blk.0.attn_q.weight.lora_a', dims: [64, 4], type: 'F32', fill: (_s, out) => out.fill(0.01) },
        { name: 'blk.0.attn_q.weight.lora_b', dims: [4, 64], type: 'F32', fill: (_s, out) => out.fill(0.01) },
      ],
    });
  } else {
    await generateLoraAdapter({
      preset: 'tiny',
      targets: ['attn_q', 'attn_output', 'ffn_up', 'ffn_down'],
      rank: 4,
      alpha: 8,
      seed: o.seed,
      std: o.std ?? 0.5,
      path: tmp,
    });
  }
  const adapter = await readFile(tmp);
  const base = await stat(o.baseModelPath);
  const text = trainerManifest({
    adapterFile: fileName,
    adapterSha256: sha256Text(adapter),
    adapterBytes: adapter.length,
    baseFile: basename(o.baseModelPath),
    baseSha256: o.baseSha256 ?? (await sha256File(o.baseModelPath)),
    baseBytes: base.size,
    architecture: o.architecture ?? 'qwen2',
    fingerprint: o.key.signer.fingerprint,
  });
  if (o.tamperAfterSigning) {
    adapter[adapter.length - 1] = (adapter[adapter.length - 1] as number) ^ 0xff;
    await writeFile(tmp, adapter);
  }
  const dest = join(o.dir, fileName);
  const paths = adapterArtifacts(dest);
  const stagedManifest = join(staging, basename(paths.manifest));
  await writeFile(stagedManifest, text);
  if (!o.unsigned) {
    await writeFile(`${stagedManifest}.asc`, await o.key.signer.signDetached(text));
    await rename(`${stagedManifest}.asc`, paths.signature);
  }
  await rename(stagedManifest, paths.manifest);
  await rename(tmp, dest);
  await rm(join(o.dir, '.staging'), { recursive: true, force: true });
  return { path: dest, name: fileName.replace(/\.gguf$/, '') };
}

/** <repo>/packages/lora-trainer/dist/main.js: the trainer's CLI (built by the test target's dependencies). */
export const TRAINER_CLI = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'lora-trainer',
  'dist',
  'main.js',
);

/**
 * Runs the real nightly trainer (`sarai-lora-trainer nightly`, tiny settings, ~0.3 s on the tiny model) publishing
 * into `adaptersDir`; returns the published adapter's path.
 */
export async function runTrainer(o: {
  adaptersDir: string;
  baseModelPath: string;
  privateKeyArmored: string;
  workDir: string;
}): Promise<string> {
  if (!existsSync(TRAINER_CLI)) {
    throw new Error(`${TRAINER_CLI} is missing: build it first (nx run @sarai/lora-trainer:build)`);
  }
  await mkdir(o.workDir, { recursive: true });
  const keyFile = join(o.workDir, 'signing.asc');
  const logFile = join(o.workDir, 'interactions.jsonl');
  await writeFile(keyFile, o.privateKeyArmored, { mode: 0o600 });
  const lines = Array.from({ length: 12 }, (_, i) =>
    JSON.stringify({
      v: 1,
      ts: '2026-11-24T10:00:00.000Z',
      prompt: `What color is item ${i}?`,
      iterations: [
        {
          iteration: 0,
          response: `Item ${i} is red.`,
          confidence: 0.9,
          corrected: false,
          checks: [{ checker: 'json', pass: true, feedback: '' }],
        },
      ],
      final: `Item ${i} is red.`,
      autoCorrected: false,
      checkersPassed: true,
    }),
  );
  await writeFile(logFile, lines.join('\n') + '\n');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      TRAINER_CLI,
      'nightly',
      '--log',
      logFile,
      '--base',
      o.baseModelPath,
      '--adapters',
      o.adaptersDir,
      '--lock',
      join(o.workDir, 'nightly.lock'),
      '--key-file',
      keyFile,
      '--rank',
      '4',
      '--epochs',
      '1',
      '--threads',
      '1',
      '--force',
    ],
    { env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const result = JSON.parse(last) as { status: string; artifacts?: { adapter: string } };
  if (result.status !== 'trained' || !result.artifacts) throw new Error(`trainer did not publish: ${last}`);
  if (dirname(result.artifacts.adapter) !== o.adaptersDir)
    throw new Error(`unexpected path ${result.artifacts.adapter}`);
  return result.artifacts.adapter;
}

/** A temp dir with an adapter published by the real trainer, the key that signed it, an untrusted key and the base. */
export interface TrainedAdapterFixture {
  dir: string;
  key: TestKey;
  other: TestKey;
  base: { sha256: string; architecture: string };
  trained: string;
  dispose(): Promise<void>;
}

/** Sets up a {@link TrainedAdapterFixture} in a fresh temp dir named after `prefix` (tests of the verifier). */
export async function trainedAdapterFixture(
  baseModelPath: string,
  prefix: string,
): Promise<TrainedAdapterFixture> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const [key, other] = await Promise.all([testKey(), testKey('someone else')]);
  const base = { sha256: await sha256File(baseModelPath), architecture: 'qwen2' };
  // Real output of the nightly trainer: its manifest format and signature are what skill-draft must accept.
  const trained = await runTrainer({
    adaptersDir: join(dir, 'trained'),
    baseModelPath,
    privateKeyArmored: key.pair.privateKeyArmored,
    workDir: join(dir, 'work'),
  });
  return { dir, key, other, base, trained, dispose: () => rm(dir, { recursive: true, force: true }) };
}
