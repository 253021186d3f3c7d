// Cost of the cache format upgrade: a cache written by the previous version (layout 2, keys without the fine key)
// with N entries is opened by this version, which drops every old entry (see src/cache.ts).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CacheStore, LAYOUT_VERSION } from '../src/cache.js';

const PREVIOUS = LAYOUT_VERSION - 1;

export interface UpgradeTiming {
  entries: number;
  /** CacheStore.open until it resolves (the service answers requests from then on). */
  openMs: number;
  /** Background removal of the dropped files after open. */
  removalMs: number;
  /** Entries left in the index after the upgrade (must be 0). */
  left: number;
}

/** Writes `n` entries of the previous layout (entry.json + one 30 KB variant each) and times their drop by CacheStore.open. */
export async function measureUpgrade(n: number): Promise<UpgradeTiming> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'skill-image-upgrade-'));
  try {
    await fs.writeFile(path.join(root, 'skill-image-cache.json'), JSON.stringify({ layout: PREVIOUS }));
    const variant = randomBytes(30_000);
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const id = randomBytes(16).toString('hex');
      const dir = path.join(root, 'e', id.slice(0, 2), id);
      await fs.mkdir(dir, { recursive: true });
      const file = 'webp-q80-d1024.webp';
      await fs.writeFile(path.join(dir, file), variant);
      const entry = {
        layout: PREVIOUS,
        id,
        phash: randomBytes(32).toString('hex'),
        width: 1024,
        height: 768,
        opaque: true,
        colour: Buffer.alloc(256).toString('base64'),
        detail: Buffer.alloc(4096).toString('base64'),
        contents: [randomBytes(32).toString('hex')],
        variants: {
          'webp-q80-d1024': {
            file,
            format: 'webp',
            quality: 80,
            maxDimension: 1024,
            width: 1024,
            height: 768,
            bytes: variant.length,
            createdAt: now,
          },
        },
        createdAt: now,
        lastAccess: now,
      };
      await fs.writeFile(path.join(dir, 'entry.json'), JSON.stringify(entry));
    }
    const t0 = performance.now();
    const store = await CacheStore.open({
      root,
      limits: { maxBytes: 2 ** 40, maxEntries: 10_000_000, maxAgeMs: 2 ** 40 },
    });
    const openMs = performance.now() - t0;
    await store.upgrade.removal;
    const removalMs = performance.now() - t0 - openMs;
    const left = store.size;
    await store.close();
    return { entries: n, openMs, removalMs, left };
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}
