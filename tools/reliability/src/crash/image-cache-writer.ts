import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { mulberry32 } from '@sarai/formats';
import { closeLocalPipelines, preprocessImageLocal } from '@sarai/skill-image';
import sharp from 'sharp';
import { CrashCheckError } from './errors.js';
import { emit, type CrashWriter } from './protocol.js';

const SIDE = 40;
const sha256Of = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A distinct picture per id: coloured blocks from a seeded PRNG (PNG). */
export async function pictureOf(id: string): Promise<Buffer> {
  let seed = 0;
  for (const c of id) seed = (Math.imul(seed, 31) + c.charCodeAt(0)) >>> 0;
  const r = mulberry32(seed);
  const raw = Buffer.alloc(SIDE * SIDE * 3);
  const block = 4 + Math.floor(r() * 8);
  for (let by = 0; by < SIDE; by += block) {
    for (let bx = 0; bx < SIDE; bx += block) {
      const col = [r() * 255, r() * 255, r() * 255];
      for (let y = by; y < Math.min(SIDE, by + block); y++)
        for (let x = bx; x < Math.min(SIDE, bx + block); x++)
          for (let c = 0; c < 3; c++) raw[(y * SIDE + x) * 3 + c] = col[c] as number;
    }
  }
  return sharp(raw, { raw: { width: SIDE, height: SIDE, channels: 3 } })
    .png()
    .toBuffer();
}

const CACHE = 'image-cache';

/** Preprocessed images written into the shared image cache (skill-image's pipeline, as the fallback runs it). */
export const imageCacheWriter: CrashWriter = {
  name: 'image-cache',
  maxDelayMs: 150,
  tears: false,
  async prepare() {
    return {};
  },
  async run(dir, _setup, seed) {
    const cache = join(dir, CACHE);
    await preprocessImageLocal(await pictureOf('warm-up'), { format: 'webp' }, cache);
    emit({ k: 'ready' });
    for (let i = 0; ; i++) {
      const id = `${seed}-${i}`;
      const png = await pictureOf(id);
      emit({ k: 'begin', id });
      const res = await preprocessImageLocal(png, { format: 'webp' }, cache);
      const sha = sha256Of(await readFile(res.absolutePath));
      emit({ k: 'ack', id, data: { sha, path: res.path } });
    }
  },
  async check(dir, _setup, history) {
    const cache = join(dir, CACHE);
    const notes = { served: 0, hits: 0, recomputed: 0 };
    // After the restart (a fresh pipeline scans the cache), serve the interrupted writes and the latest acknowledged.
    const ids = [...[...history.inflight].slice(-4), ...[...history.acked.keys()].slice(-6)];
    try {
      for (const id of ids) {
        const res = await preprocessImageLocal(await pictureOf(id), { format: 'webp' }, cache);
        const bytes = await readFile(res.absolutePath);
        const meta = await sharp(bytes)
          .raw()
          .toBuffer({ resolveWithObject: true })
          .catch((e: unknown) => {
            throw new CrashCheckError(
              'image-cache',
              `served a partial or corrupt file for ${id}: ${String(e)}`,
            );
          });
        if (meta.info.width !== res.width || meta.info.height !== res.height || bytes.length !== res.bytes) {
          throw new CrashCheckError('image-cache', `served ${res.path} for ${id} does not match its entry`);
        }
        const ack = history.acked.get(id);
        if (ack && ack['sha'] !== sha256Of(bytes)) {
          throw new CrashCheckError(
            'image-cache',
            `acknowledged ${id} is served with other bytes after the restart`,
          );
        }
        notes.served += 1;
        if (res.cache === 'miss') notes.recomputed += 1;
        else notes.hits += 1;
      }
    } finally {
      await closeLocalPipelines();
    }
    return notes;
  },
};
