import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { adapterArtifacts, compareAdapterFiles, sha256Text, serializeAdapterManifest } from '@sarai/formats';
import { allocateAdapterPath, publishAdapter } from '@sarai/lora-trainer';
import { PromptSigner, generateSigningKeyPair } from '@sarai/signer';
import type { BaseModelIdentity } from '@sarai/skill-draft';
import { CrashCheckError } from './errors.js';
import { emit, type CrashWriter } from './protocol.js';

const BASE: BaseModelIdentity = { sha256: 'b'.repeat(64), architecture: 'qwen2' };
const DAY = new Date('2026-11-30T02:00:00Z');
/** Adapter files already verified, per adapters directory. */
const verifiedIn = new Map<string, Set<string>>();

function manifestOf(file: string, sha256: string, bytes: number, fingerprint: string): string {
  return serializeAdapterManifest({
    schema: 'sarai.lora-manifest/v1',
    adapter: { file, sha256, bytes },
    baseModel: { file: 'base.gguf', sha256: BASE.sha256, bytes: 1, architecture: BASE.architecture },
    dataset: {
      file: file.replace(/\.gguf$/, '.dataset.jsonl'),
      sha256: sha256Text(''),
      train: 0,
      eval: 0,
      evalHeldOut: false,
      records: 0,
      malformed: 0,
      notImproved: 0,
      duplicates: 0,
      tokens: { train: 0, eval: 0, trainRows: 0, evalRows: 0, contextSize: 64 },
    },
    hyperParameters: {
      rank: 4,
      alpha: 8,
      targets: ['attn_q'],
      learningRate: 0.001,
      learningRateMin: 0.001,
      weightDecay: 0,
      optimizer: 'adamw',
      epochs: 1,
      contextSize: 64,
      threads: 1,
      seed: 1,
      systemPrompt: null,
      evalFraction: 0.1,
    },
    losses: { evalBefore: 1, evalAfter: 1, trainPerEpoch: [1] },
    throughput: { trainTokensPerSecond: 1, evalTokensPerSecond: 1 },
    trainableParameters: 0,
    startedAt: DAY.toISOString(),
    finishedAt: DAY.toISOString(),
    durationMs: 1,
    trainer: { name: '@sarai/lora-trainer', version: '0.1.0', llamaVersion: 'crash-test', template: 'model' },
    signer: { fingerprint },
  });
}

/** Signed adapters published into the adapters directory (@sarai/lora-trainer publishAdapter), as the nightly does. */
export const adapterWriter: CrashWriter = {
  name: 'adapter-publish',
  maxDelayMs: 150,
  tears: false,
  async prepare(dir) {
    const pair = await generateSigningKeyPair({ name: 'trainer', email: 'trainer@localhost' });
    const template = join(dir, 'template.gguf');
    // skill-draft (llama bindings) is loaded in the parent only: children stay cheap to start.
    const { generateLoraAdapter } = await import('@sarai/skill-draft');
    await generateLoraAdapter({
      preset: 'tiny',
      targets: ['attn_q'],
      rank: 4,
      alpha: 8,
      seed: 3,
      std: 0.1,
      path: template,
    });
    return { privateKey: pair.privateKeyArmored, publicKey: pair.publicKeyArmored, template };
  },
  async run(dir, setup, seed) {
    const signer = await PromptSigner.fromKey(setup['privateKey'] as string);
    const adapters = join(dir, 'adapters');
    const staging = join(dir, 'staging', String(process.pid));
    await mkdir(staging, { recursive: true });
    const template = await readFile(setup['template'] as string);
    const digest = createHash('sha256').update(template).digest('hex');
    emit({ k: 'ready' });
    for (let i = 0; ; i++) {
      const path = await allocateAdapterPath(staging, DAY, [adapters]);
      const file = basename(path);
      // One write = the trainer's whole hand-over: staging the adapter, its manifest and signature, then publishing.
      const id = `${seed}-${i}:${file}`;
      emit({ k: 'begin', id });
      await copyFile(setup['template'] as string, path);
      const text = manifestOf(file, digest, template.length, signer.fingerprint);
      const art = adapterArtifacts(path);
      await writeFile(art.manifest, text);
      await writeFile(art.signature, await signer.signDetached(text));
      await publishAdapter({ adapterPath: path, adaptersDir: adapters, datasetPath: null });
      emit({ k: 'ack', id, data: { file } });
    }
  },
  async check(dir, setup, history) {
    const adapters = join(dir, 'adapters');
    const { verifyAdapter } = await import('@sarai/skill-draft');
    const notes = { published: 0, verified: 0 };
    const files = (await readdir(adapters).catch(() => [] as string[]))
      .filter((f) => /^lora_\d{8}(-\d+)?\.gguf$/.test(f))
      .sort(compareAdapterFiles);
    // Published files are never rewritten: each is verified once, the newest (the one in use) at every point.
    const seen = verifiedIn.get(dir) ?? new Set<string>();
    verifiedIn.set(dir, seen);
    for (const f of files) {
      if (seen.has(f) && f !== files.at(-1)) {
        notes.verified += 1;
        continue;
      }
      const verdict = await verifyAdapter({
        adapterPath: join(adapters, f),
        trusted: setup['publicKey'] as string,
        base: BASE,
      });
      if (!verdict.ok)
        throw new CrashCheckError(
          'adapter-publish',
          `${f} is visible but ${verdict.reason}: ${verdict.message}`,
        );
      notes.verified += 1;
      seen.add(f);
    }
    for (const [id, ack] of history.acked) {
      const f = ack['file'] as string;
      if (!(await stat(join(adapters, f)).catch(() => null))) {
        throw new CrashCheckError('adapter-publish', `acknowledged adapter ${id} is not published`);
      }
    }
    // The adapter in use is the newest that verifies: with every visible one verified, it is the newest file.
    notes.published = files.length;
    await rm(join(dir, 'staging'), { recursive: true, force: true }).catch(() => undefined);
    return notes;
  },
};
