import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterArtifacts as manifestPathsOf, compareAdapterFiles } from '@sarai/formats';
import { verifyAdapter, type BaseModelIdentity } from './adapter-verify.js';
import { TINY_MODEL } from './test-support/models.js';
import {
  fileSha256,
  publishTestAdapter,
  trainedAdapterFixture,
  type TestKey,
  type TrainedAdapterFixture,
} from './test-support/adapters.js';

describe('verifyAdapter', () => {
  let fx: TrainedAdapterFixture;
  let dir: string;
  let key: TestKey;
  let other: TestKey;
  let base: BaseModelIdentity;
  let trained: string;

  beforeAll(async () => {
    fx = await trainedAdapterFixture(TINY_MODEL, 'sarai-draft-verify-');
    ({ dir, key, other, base, trained } = fx);
  });
  afterAll(async () => {
    await fx?.dispose();
  });

  it('accepts an adapter published by the real trainer and reports its identity', async () => {
    const v = await verifyAdapter({ adapterPath: trained, trusted: key.pair.publicKeyArmored, base });
    expect(v).toMatchObject({ ok: true });
    if (!v.ok) return;
    expect(v.adapter.name).toBe(basename(trained, '.gguf'));
    expect(v.adapter.sha256).toBe(await fileSha256(trained));
    expect(v.adapter.baseModelSha256).toBe(base.sha256);
    expect(v.adapter.signer).toBe(key.signer.fingerprint);
  });

  it('rejects the trainer’s adapter signed by an untrusted key, with a tampered manifest, or without signature', async () => {
    const untrusted = await verifyAdapter({
      adapterPath: trained,
      trusted: other.pair.publicKeyArmored,
      base,
    });
    expect(untrusted).toMatchObject({ ok: false, reason: 'bad-signature' });
    if (!untrusted.ok) expect(untrusted.message).toContain('untrusted-key');

    const { manifest, signature } = manifestPathsOf(trained);
    const original = await readFile(manifest, 'utf8');
    const copy = join(dir, 'tampered.manifest.json');
    await writeFile(copy, original.replace('"rank": 4', '"rank": 5'));
    const tampered = await verifyAdapter({
      adapterPath: trained,
      trusted: key.pair.publicKeyArmored,
      base,
      manifestPath: copy,
      signaturePath: signature,
    });
    expect(tampered).toMatchObject({ ok: false, reason: 'bad-signature' });
    if (!tampered.ok) expect(tampered.message).toContain('tampered');

    const unsigned = await verifyAdapter({
      adapterPath: trained,
      trusted: key.pair.publicKeyArmored,
      base,
      signaturePath: join(dir, 'missing.asc'),
    });
    expect(unsigned).toMatchObject({ ok: false, reason: 'unsigned' });
  });

  it('rejects the trainer’s adapter for another base model', async () => {
    const v = await verifyAdapter({
      adapterPath: trained,
      trusted: key.pair.publicKeyArmored,
      base: { ...base, sha256: 'f'.repeat(64) },
    });
    expect(v).toMatchObject({ ok: false, reason: 'wrong-base-model' });
  });

  it('rejects a signed file that is not a LoRA GGUF, a changed byte, another architecture and a shape mismatch', async () => {
    const pub = key.pair.publicKeyArmored;
    const garbage = await publishTestAdapter({
      dir,
      baseModelPath: TINY_MODEL,
      key,
      seed: 1,
      adapterBytes: Buffer.from('GGUF but not really'.repeat(50)),
    });
    expect(await verifyAdapter({ adapterPath: garbage.path, trusted: pub, base })).toMatchObject({
      ok: false,
      reason: 'corrupt',
    });
    const flipped = await publishTestAdapter({
      dir,
      baseModelPath: TINY_MODEL,
      key,
      seed: 2,
      tamperAfterSigning: true,
    });
    expect(await verifyAdapter({ adapterPath: flipped.path, trusted: pub, base })).toMatchObject({
      ok: false,
      reason: 'checksum-mismatch',
    });
    const llama = await publishTestAdapter({
      dir,
      baseModelPath: TINY_MODEL,
      key,
      seed: 3,
      architecture: 'llama',
    });
    expect(await verifyAdapter({ adapterPath: llama.path, trusted: pub, base })).toMatchObject({
      ok: false,
      reason: 'wrong-architecture',
    });
    const good = await publishTestAdapter({ dir, baseModelPath: TINY_MODEL, key, seed: 4 });
    expect(await verifyAdapter({ adapterPath: good.path, trusted: pub, base })).toMatchObject({ ok: true });
    const info = await readGgufFileInfo(TINY_MODEL, { sourceType: 'filesystem', logWarnings: false });
    const tensors = new Map((info.tensorInfo ?? []).map((t) => [t.name, t.dimensions.map(Number)] as const));
    expect(
      await verifyAdapter({ adapterPath: good.path, trusted: pub, base: { ...base, tensors } }),
    ).toMatchObject({
      ok: true,
    });
    const narrow = new Map(tensors).set('blk.0.attn_q.weight', [32, 64]);
    const misfit = await verifyAdapter({
      adapterPath: good.path,
      trusted: pub,
      base: { ...base, tensors: narrow },
    });
    expect(misfit).toMatchObject({ ok: false, reason: 'corrupt' });
  });

  it('orders published names by date, then the same-day counter', () => {
    const names = [
      'lora_20261125.gguf',
      'lora_20261124-10.gguf',
      'lora_20261124.gguf',
      'lora_20261124-2.gguf',
    ];
    expect(names.sort(compareAdapterFiles)).toEqual([
      'lora_20261124.gguf',
      'lora_20261124-2.gguf',
      'lora_20261124-10.gguf',
      'lora_20261125.gguf',
    ]);
  });
});
