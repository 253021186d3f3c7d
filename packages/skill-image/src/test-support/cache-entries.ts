// Test helpers: cache entries written straight into a cache directory (entries of older layouts, tampered volumes),
// laid out as CacheStore reads them: <root>/e/<first two hex digits of id>/<id>/entry.json beside its variant files.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { VariantRecord } from '../cache.js';

/** A variant record as entry.json stores it: webp, quality 80, max side 1024, 1×1, 1 byte, created at 0, unless overridden. */
export function variantRecord(o: Partial<VariantRecord> = {}): VariantRecord {
  return {
    file: 'webp-q80-d1024.webp',
    format: 'webp',
    quality: 80,
    maxDimension: 1024,
    width: 1,
    height: 1,
    bytes: 1,
    createdAt: 0,
    ...o,
  };
}

/** entry.json's `variants`: each record under the key the cache gives it, `<format>-q<quality>-d<maxDimension>`. */
export function variantsOf(...records: VariantRecord[]): Record<string, VariantRecord> {
  return Object.fromEntries(records.map((r) => [`${r.format}-q${r.quality}-d${r.maxDimension}`, r]));
}

/** The directory of entry `id` below the cache root, created if missing. */
export async function cacheEntryDir(root: string, id: string): Promise<string> {
  const dir = path.join(root, 'e', id.slice(0, 2), id);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

/** Writes `entry` (any shape: the point is often that it is wrong) as the entry.json of `entry.id`; returns its directory. */
export async function writeEntryFile(
  root: string,
  entry: { id: string } & Record<string, unknown>,
): Promise<string> {
  const dir = await cacheEntryDir(root, entry.id);
  await fs.writeFile(path.join(dir, 'entry.json'), JSON.stringify(entry));
  return dir;
}
