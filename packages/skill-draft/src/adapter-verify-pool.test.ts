import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL } from './test-support/models.js';
import { fileSha256, trainedAdapterFixture, type TrainedAdapterFixture } from './test-support/adapters.js';

// The worker runs the compiled module (dist/adapter-verify-worker.js; the test target builds first): this test
// loads the compiled pool so the verdicts cross a real worker thread.
type Pool = typeof import('./adapter-verify-pool.js');
const pool = (await import(new URL('../dist/adapter-verify-pool.js', import.meta.url).href)) as Pool;

describe('verifyAdapterOffThread', () => {
  let fx: TrainedAdapterFixture;

  beforeAll(async () => {
    fx = await trainedAdapterFixture(TINY_MODEL, 'sarai-draft-verify-pool-');
  });
  afterAll(async () => {
    await pool.stopAdapterVerifyWorker();
    await fx?.dispose();
  });

  it('gives the same verdicts as in-thread verification, concurrently', async () => {
    const { key, other, base, trained } = fx;
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
