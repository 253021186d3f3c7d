import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BaseModelIdentity } from './adapter-verify.js';
import { TINY_MODEL } from './test-support/models.js';
import { fileSha256, runTrainer, testKey, type TestKey } from './test-support/adapters.js';

// The worker runs the compiled module (dist/adapter-verify-worker.js; the test target builds first): this test
// loads the compiled pool so the verdicts cross a real worker thread.
type Pool = typeof import('./adapter-verify-pool.js');
const pool = (await import(new URL('../dist/adapter-verify-pool.js', import.meta.url).href)) as Pool;

describe('verifyAdapterOffThread', () => {
  let dir: string;
  let key: TestKey;
  let other: TestKey;
  let base: BaseModelIdentity;
  let trained: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-draft-verify-pool-'));
    [key, other] = await Promise.all([testKey(), testKey('someone else')]);
    base = { sha256: await fileSha256(TINY_MODEL), architecture: 'qwen2' };
    trained = await runTrainer({
      adaptersDir: join(dir, 'trained'),
      baseModelPath: TINY_MODEL,
      privateKeyArmored: key.pair.privateKeyArmored,
      workDir: join(dir, 'work'),
    });
  });
  afterAll(async () => {
    await pool.stopAdapterVerifyWorker();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the same verdicts as in-thread verification, concurrently', async () => {
    const [good, untrusted, wrongBase] = await Promise.all([
      pool.verifyAdapterOffThread({ adapterPath: trained, trusted: key.pair.publicKeyArmored, base }),
      pool.verifyAdapterOffThread({ adapterPath: trained, trusted: other.pair.publicKeyArmored, base }),
      pool.verifyAdapterOffThread({
        adapterPath: trained,
        trusted: key.pair.publicKeyArmored,
        base: { ...base, sha256: '0'.repeat(64), tensors: new Map([['x', [1, 2]]]) },
      }),
    ]);
    expect(good).toMatchObject({ ok: true, adapter: { sha256: await fileSha256(trained) } });
    if (good.ok) expect(good.adapter.signedAt).toBeInstanceOf(Date);
    expect(untrusted).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(wrongBase).toMatchObject({ ok: false, reason: 'wrong-base-model' });
  });
});
