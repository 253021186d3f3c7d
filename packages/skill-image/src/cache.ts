// The shared perceptual cache on disk (the seed's ./state/image_cache volume, /cache in the container).
//
// Layout (all names generated from hex digests and validated enums, so a path can only be inside the root):
//   <root>/skill-image-cache.json          layout marker {"layout": 2}
//   <root>/e/<id[0..2]>/<id>/entry.json    one entry = one picture: perceptual keys, known input digests, variants
//   <root>/e/<id[0..2]>/<id>/<format>-q<quality>-d<max_dimension>.<ext>   one file per output variant
//
// Index persistence: one metadata file per entry, rewritten atomically (temp file + fsync + rename), instead of one
// global JSON index. A write touches one small file (O(1), not O(entries)); a crash loses at most the entry being
// written, never the index; the container and the host's in-process fallback can write to the same volume without
// overwriting each other's entries; eviction is one `rm -r`. The cost is a scan of entry.json files at start-up
// (≈ 10 k files/s here), which rebuilds the in-memory index. Recency (for LRU) is persisted lazily (at most every
// 30 s and at close), so after a crash the LRU order is at most 30 s stale.
//
// Format versions: the layout version changes whenever the perceptual keys change (layout 3 = keys with alpha
// and the 64×64 fine key, KEYS_VERSION 3). Entries written with older keys are DROPPED at start, never re-keyed:
// an old entry may hold aliases (content digests) and variants that belong to another picture (a false near hit
// recorded under the old keys), and only its own lossy output is left to recompute keys from. Dropping a whole
// older layout is one rename of `e/` at start (O(1), the service starts with an empty index), the files are
// removed in the background; single old entry.json files met later (written by an older process still running on
// the volume) are removed during the scan. A newer layout than this version knows is refused (no downgrade over a
// newer cache).
//
// Several processes on one volume: each keeps its own in-memory index; a hit is verified on disk (realpath +
// size), so an entry evicted by another process is dropped and recomputed, never returned. Entries created by
// another process are seen at the next start.
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ImageError } from './errors.js';
import { EXTENSION, OUTPUT_FORMATS, type OutputFormat } from './formats.js';
import {
  COLOUR_SIZE,
  DEFAULT_THRESHOLDS,
  DETAIL_SIZE,
  KEY_CHANNELS,
  hashBytes,
  hammingBytes,
  type MatchThresholds,
  samePicture,
  type PerceptualKeys,
} from './features.js';
import { isFineKey } from './fine.js';

/**
 * Cache format version: 1 = keys without alpha, 2 = keys with alpha and the mirror check (both dropped at start),
 * 3 = plus the 64×64 fine key (near-identical pictures such as animation frames).
 */
export const LAYOUT_VERSION = 3;
/** Prefix of a whole older-layout tree renamed at start and being removed. */
const DROPPED_PREFIX = 'dropped-layout-';
const MARKER = 'skill-image-cache.json';
const ENTRY_FILE = 'entry.json';
const ID = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const VARIANT_FILE = /^(webp|jpeg|avif|png)-q(\d{1,3})-d(\d{1,5})\.(webp|jpg|avif|png)$/;
/** Temp files and half-created entries older than this are leftovers of a crash (not another process's work). */
const STALE_MS = 10 * 60_000;
const MAX_ALIASES = 64;
const PERSIST_EVERY_MS = 30_000;

export interface CacheLimits {
  /** Total bytes of variant files; LRU entries are evicted down to 90 % of it when exceeded. */
  maxBytes: number;
  maxEntries: number;
  /** Entries not used for this long are evicted. */
  maxAgeMs: number;
}

export interface VariantRecord {
  file: string;
  format: OutputFormat;
  quality: number;
  maxDimension: number;
  width: number;
  height: number;
  bytes: number;
  createdAt: number;
}

interface EntryFile {
  layout: number;
  id: string;
  phash: string;
  width: number;
  height: number;
  opaque: boolean;
  maxSide?: number;
  colour: string;
  detail: string;
  fine: string;
  contents: string[];
  variants: Record<string, VariantRecord>;
  createdAt: number;
  lastAccess: number;
}

export interface CacheEntry {
  readonly id: string;
  readonly keys: PerceptualKeys;
  readonly phashBytes: Uint8Array;
  contents: string[];
  variants: Map<string, VariantRecord>;
  /** Longest side of the largest input seen for this picture (variants from smaller copies get re-encoded). */
  maxSide: number;
  createdAt: number;
  lastAccess: number;
  bytes: number;
  /** Not yet on disk (being created by a request in flight). */
  pending: boolean;
  /** Requests currently using it: never evicted while > 0. */
  busy: number;
  dirty: boolean;
}

export interface NearLookup {
  entry?: CacheEntry;
  /** Candidates (phash close) that the guard refused. */
  rejected: number;
}

export interface StoreCounters {
  evictions: number;
  evictedBytes: number;
}

export class CacheStore {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly byContent = new Map<string, string>();
  private totalBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly counters: StoreCounters = { evictions: 0, evictedBytes: 0 };

  private constructor(
    /** Real path of the root (symlinks resolved). */
    readonly root: string,
    readonly limits: CacheLimits,
    private readonly thresholds: MatchThresholds,
    private readonly fsync: boolean,
    private readonly logger: Logger | undefined,
    private readonly onEvict: (count: number, bytes: number) => void,
  ) {}

  /** Opens (creating if needed) a cache root and rebuilds the index from the entries on disk. */
  static async open(opts: {
    root: string;
    limits: CacheLimits;
    thresholds?: MatchThresholds;
    fsync?: boolean;
    logger?: Logger;
    onEvict?: (count: number, bytes: number) => void;
  }): Promise<CacheStore> {
    let real: string;
    try {
      await fs.mkdir(opts.root, { recursive: true });
      real = await fs.realpath(opts.root);
      await fs.access(real, fsc.R_OK | fsc.W_OK | fsc.X_OK);
    } catch (e) {
      throw new ImageError(
        'IMAGE_CACHE_IO',
        `cache directory ${opts.root} is not usable: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const store = new CacheStore(
      real,
      opts.limits,
      opts.thresholds ?? DEFAULT_THRESHOLDS,
      opts.fsync ?? true,
      opts.logger,
      opts.onEvict ?? (() => undefined),
    );
    await store.checkMarker();
    await store.scan();
    await store.sweep();
    store.removeDropped();
    store.timer = setInterval(() => {
      void store
        .flush()
        .then(() => store.sweep())
        .catch((e: unknown) => store.logger?.warn({ err: e }, 'cache maintenance failed'));
    }, PERSIST_EVERY_MS);
    store.timer.unref();
    return store;
  }

  /** What the last open found and dropped (entries of an older cache format). */
  readonly upgrade: { fromLayout?: number; droppedTree?: string; removal?: Promise<void> } = {};

  private async checkMarker(): Promise<void> {
    const file = path.join(this.root, MARKER);
    let layout: unknown;
    try {
      layout = (JSON.parse(await fs.readFile(file, 'utf8')) as { layout?: unknown }).layout;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ImageError('IMAGE_CACHE_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
    if (layout === LAYOUT_VERSION) return;
    if (typeof layout === 'number' && Number.isInteger(layout) && layout > LAYOUT_VERSION) {
      throw new ImageError(
        'IMAGE_CACHE_IO',
        `cache directory ${this.root} has layout ${layout}, written by a newer version (this one uses ${LAYOUT_VERSION}): use another CACHE_DIR or upgrade`,
      );
    }
    if (layout !== undefined) {
      if (!(typeof layout === 'number' && Number.isInteger(layout) && layout >= 1)) {
        throw new ImageError(
          'IMAGE_CACHE_IO',
          `cache directory ${this.root} has an unknown layout ${JSON.stringify(layout)}: use another CACHE_DIR or empty it`,
        );
      }
      // An older format: its keys cannot be trusted; drop every entry (one rename, files removed afterwards).
      const dropped = `${DROPPED_PREFIX}${layout}-${randomBytes(4).toString('hex')}`;
      try {
        await fs.rename(path.join(this.root, 'e'), path.join(this.root, dropped));
        this.upgrade.droppedTree = dropped;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new ImageError(
            'IMAGE_CACHE_IO',
            `cannot drop the layout-${layout} entries of ${this.root}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
      this.upgrade.fromLayout = layout;
      this.logger?.warn(
        { root: this.root, from: layout, to: LAYOUT_VERSION },
        'image cache written with older perceptual keys: all its entries are dropped',
      );
    }
    await this.writeAtomic(
      file,
      JSON.stringify({ layout: LAYOUT_VERSION, writer: '@sarai/skill-image' }) + '\n',
    );
  }

  /** Removes older-layout trees renamed at start (also leftovers of an interrupted removal), in the background. */
  private removeDropped(): void {
    this.upgrade.removal = (async () => {
      const names = await fs.readdir(this.root).catch(() => [] as string[]);
      for (const n of names) {
        if (!n.startsWith(DROPPED_PREFIX)) continue;
        await fs.rm(path.join(this.root, n), { recursive: true, force: true }).catch((e: unknown) => {
          this.logger?.warn({ err: e, dir: n }, 'could not remove dropped cache entries');
        });
      }
    })();
  }

  /** Rebuilds the in-memory index from entry.json files; drops broken records and stale leftovers. */
  private async scan(): Promise<void> {
    const top = path.join(this.root, 'e');
    await fs.mkdir(top, { recursive: true });
    const now = Date.now();
    for (const shard of await fs.readdir(top)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      const shardDir = path.join(top, shard);
      let ids: string[];
      try {
        ids = await fs.readdir(shardDir);
      } catch {
        continue;
      }
      for (const id of ids) {
        if (!ID.test(id) || id.slice(0, 2) !== shard) continue;
        const dir = path.join(shardDir, id);
        try {
          const entry = await this.loadEntry(dir, id, now);
          if (entry) this.index(entry);
        } catch (e) {
          this.logger?.warn({ err: e, id }, 'skipping unreadable cache entry');
        }
      }
    }
    this.logger?.info(
      { entries: this.entries.size, bytes: this.totalBytes, root: this.root },
      'image cache index loaded',
    );
  }

  private async loadEntry(dir: string, id: string, now: number): Promise<CacheEntry | undefined> {
    const names = await fs.readdir(dir);
    // Leftover temp files of a crashed write.
    for (const n of names) {
      if (n.includes('.tmp-')) {
        const st = await fs.stat(path.join(dir, n)).catch(() => undefined);
        if (st && now - st.mtimeMs > STALE_MS) await fs.rm(path.join(dir, n), { force: true });
      }
    }
    let raw: EntryFile;
    try {
      raw = JSON.parse(await fs.readFile(path.join(dir, ENTRY_FILE), 'utf8')) as EntryFile;
    } catch (e) {
      const st = await fs.stat(dir);
      // No entry.json: a creation that never finished (or is finishing in another process right now).
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && now - st.mtimeMs > STALE_MS)
        await fs.rm(dir, { recursive: true, force: true });
      else if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        await fs.rm(dir, { recursive: true, force: true });
      return undefined;
    }
    if (typeof raw.layout === 'number' && raw.layout < LAYOUT_VERSION) {
      // Written with older keys (by an older process still running on this volume): never trusted.
      await fs.rm(dir, { recursive: true, force: true });
      return undefined;
    }
    if (raw.layout !== LAYOUT_VERSION || raw.id !== id || !HEX64.test(raw.phash)) return undefined;
    const keys: PerceptualKeys = {
      phash: raw.phash,
      width: raw.width,
      height: raw.height,
      opaque: raw.opaque,
      colour: Uint8Array.from(Buffer.from(raw.colour, 'base64')),
      detail: Uint8Array.from(Buffer.from(raw.detail, 'base64')),
      fine: Uint8Array.from(Buffer.from(typeof raw.fine === 'string' ? raw.fine : '', 'base64')),
    };
    if (!(
      keys.width > 0 &&
      keys.height > 0 &&
      typeof keys.opaque === 'boolean' &&
      keys.colour.length === COLOUR_SIZE * COLOUR_SIZE * KEY_CHANNELS &&
      keys.detail.length === DETAIL_SIZE * DETAIL_SIZE * KEY_CHANNELS &&
      isFineKey(keys.fine)
    ))
      return undefined;
    const variants = new Map<string, VariantRecord>();
    let bytes = 0;
    for (const [key, v] of Object.entries(raw.variants ?? {})) {
      if (!VARIANT_FILE.test(v.file) || `${key}.${EXTENSION[v.format]}` !== v.file) continue;
      const st = await fs.lstat(path.join(dir, v.file)).catch(() => undefined);
      if (!st?.isFile() || st.size !== v.bytes) continue;
      variants.set(key, v);
      bytes += v.bytes;
    }
    return {
      id,
      keys,
      phashBytes: hashBytes(keys.phash),
      contents: (raw.contents ?? []).filter((c) => HEX64.test(c)).slice(-MAX_ALIASES),
      variants,
      maxSide: Math.max(raw.maxSide ?? 0, keys.width, keys.height),
      createdAt: raw.createdAt,
      lastAccess: raw.lastAccess,
      bytes,
      pending: false,
      busy: 0,
      dirty: false,
    };
  }

  private index(e: CacheEntry): void {
    this.entries.set(e.id, e);
    this.totalBytes += e.bytes;
    for (const c of e.contents) this.byContent.set(c, e.id);
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Exact lookup by sha256 of input bytes. */
  byContentHash(sha: string): CacheEntry | undefined {
    const id = this.byContent.get(sha);
    return id === undefined ? undefined : this.entries.get(id);
  }

  /** Best near-duplicate entry for the keys (closest phash that the collision guard accepts). Synchronous. */
  findNear(keys: PerceptualKeys): NearLookup {
    const q = hashBytes(keys.phash);
    const candidates: Array<{ e: CacheEntry; d: number }> = [];
    for (const e of this.entries.values()) {
      const d = hammingBytes(q, e.phashBytes);
      if (d <= this.thresholds.maxHamming) candidates.push({ e, d });
    }
    candidates.sort((a, b) => a.d - b.d);
    let rejected = 0;
    for (const { e } of candidates) {
      if (samePicture(keys, e.keys, this.thresholds)) return { entry: e, rejected };
      rejected += 1;
    }
    return { rejected };
  }

  /** Creates an entry in memory (pending until its first variant is written). Synchronous. */
  create(keys: PerceptualKeys, contentHash: string): CacheEntry {
    let id = contentHash.slice(0, 32);
    while (this.entries.has(id)) id = randomBytes(16).toString('hex');
    const now = Date.now();
    const e: CacheEntry = {
      id,
      keys,
      phashBytes: hashBytes(keys.phash),
      contents: [contentHash],
      variants: new Map(),
      maxSide: Math.max(keys.width, keys.height),
      createdAt: now,
      lastAccess: now,
      bytes: 0,
      pending: true,
      busy: 0,
      dirty: true,
    };
    this.index(e);
    return e;
  }

  /** Forgets a pending entry whose first variant could not be produced. */
  abandon(e: CacheEntry): void {
    if (!e.pending || e.variants.size > 0 || this.entries.get(e.id) !== e) return;
    this.unindex(e);
  }

  private unindex(e: CacheEntry): void {
    this.entries.delete(e.id);
    this.totalBytes -= e.bytes;
    for (const c of e.contents) if (this.byContent.get(c) === e.id) this.byContent.delete(c);
  }

  /** Records that these input bytes are this picture (next time: exact hit). */
  addContent(e: CacheEntry, sha: string): void {
    if (this.byContent.get(sha) === e.id) return;
    const old = this.byContent.get(sha);
    if (old !== undefined) {
      const o = this.entries.get(old);
      if (o) o.contents = o.contents.filter((c) => c !== sha);
    }
    e.contents.push(sha);
    if (e.contents.length > MAX_ALIASES) {
      const dropped = e.contents.splice(0, e.contents.length - MAX_ALIASES);
      for (const c of dropped) if (this.byContent.get(c) === e.id) this.byContent.delete(c);
    }
    this.byContent.set(sha, e.id);
    e.dirty = true;
  }

  touch(e: CacheEntry): void {
    e.lastAccess = Date.now();
    e.dirty = true;
  }

  relativePath(e: CacheEntry, file: string): string {
    return `e/${e.id.slice(0, 2)}/${e.id}/${file}`;
  }

  absolutePath(rel: string): string {
    return path.join(this.root, ...rel.split('/'));
  }

  /**
   * True when the variant's file is on disk with its recorded size and its real path is exactly where the index
   * says (no symlink anywhere below the root). Otherwise the variant is forgotten and false is returned.
   */
  async verify(e: CacheEntry, key: string): Promise<boolean> {
    const v = e.variants.get(key);
    if (!v) return false;
    const rel = this.relativePath(e, v.file);
    const abs = this.absolutePath(rel);
    try {
      const [real, st] = await Promise.all([fs.realpath(abs), fs.lstat(abs)]);
      if (real === abs && st.isFile() && st.size === v.bytes) return true;
      this.logger?.warn({ id: e.id, file: v.file }, 'cache file changed on disk; recomputing');
    } catch {
      this.logger?.debug(
        { id: e.id, file: v.file },
        'cache file gone (evicted by another process?); recomputing',
      );
    }
    if (e.variants.get(key) === v) {
      e.variants.delete(key);
      e.bytes -= v.bytes;
      this.totalBytes -= v.bytes;
      e.dirty = true;
    }
    return false;
  }

  /** Writes a variant file and the entry's metadata atomically, then enforces the budget. */
  async putVariant(
    e: CacheEntry,
    key: string,
    v: Omit<VariantRecord, 'file'>,
    data: Uint8Array,
  ): Promise<VariantRecord> {
    if (!OUTPUT_FORMATS.includes(v.format))
      throw new ImageError('IMAGE_CACHE_IO', `bad variant format ${v.format}`);
    const record: VariantRecord = { ...v, file: `${key}.${EXTENSION[v.format]}` };
    if (!VARIANT_FILE.test(record.file))
      throw new ImageError('IMAGE_CACHE_IO', `bad variant file name ${record.file}`);
    const dir = await this.entryDir(e);
    try {
      await this.writeAtomic(path.join(dir, record.file), data);
      const indexed = this.entries.get(e.id) === e;
      const old = e.variants.get(key);
      if (old) {
        e.bytes -= old.bytes;
        if (indexed) this.totalBytes -= old.bytes;
      }
      e.variants.set(key, record);
      e.bytes += record.bytes;
      if (indexed) this.totalBytes += record.bytes;
      else this.index(e); // dropped meanwhile (verify failure of its last variant, age sweep): re-add
      e.lastAccess = Date.now();
      await this.persist(e);
      e.pending = false;
    } catch (err) {
      if (err instanceof ImageError) throw err;
      throw new ImageError(
        'IMAGE_CACHE_IO',
        `cannot write to the image cache ${this.root}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    await this.enforceBudget();
    return record;
  }

  private async entryDir(e: CacheEntry): Promise<string> {
    const rel = `e/${e.id.slice(0, 2)}/${e.id}`;
    const dir = this.absolutePath(rel);
    try {
      await fs.mkdir(dir, { recursive: true });
      const real = await fs.realpath(dir);
      if (real !== dir) throw new Error(`${rel} resolves to ${real}, outside the expected place (symlink?)`);
    } catch (err) {
      throw new ImageError('IMAGE_CACHE_IO', `cannot use cache directory ${dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return dir;
  }

  private async persist(e: CacheEntry): Promise<void> {
    const file: EntryFile = {
      layout: LAYOUT_VERSION,
      id: e.id,
      phash: e.keys.phash,
      width: e.keys.width,
      height: e.keys.height,
      opaque: e.keys.opaque,
      maxSide: e.maxSide,
      colour: Buffer.from(e.keys.colour).toString('base64'),
      detail: Buffer.from(e.keys.detail).toString('base64'),
      fine: Buffer.from(e.keys.fine).toString('base64'),
      contents: e.contents,
      variants: Object.fromEntries(e.variants),
      createdAt: e.createdAt,
      lastAccess: e.lastAccess,
    };
    e.dirty = false;
    await this.writeAtomic(
      path.join(this.absolutePath(`e/${e.id.slice(0, 2)}/${e.id}`), ENTRY_FILE),
      JSON.stringify(file),
    );
  }

  private async writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await fs.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Persists lastAccess/contents of entries changed since their last write (lazy; also at close). */
  async flush(): Promise<void> {
    for (const e of this.entries.values()) {
      if (!e.dirty || e.pending) continue;
      try {
        await fs.access(this.absolutePath(`e/${e.id.slice(0, 2)}/${e.id}`));
        await this.persist(e);
      } catch (err) {
        this.logger?.debug({ err, id: e.id }, 'entry vanished before flush');
        e.dirty = false;
      }
    }
  }

  /** Evicts LRU entries down to 90 % of the limits when one is exceeded. */
  async enforceBudget(): Promise<void> {
    const { maxBytes, maxEntries } = this.limits;
    if (this.totalBytes <= maxBytes && this.entries.size <= maxEntries) return;
    const lru = [...this.entries.values()]
      .filter((e) => e.busy === 0 && !e.pending)
      .sort((a, b) => a.lastAccess - b.lastAccess);
    const victims: CacheEntry[] = [];
    let bytes = this.totalBytes;
    let count = this.entries.size;
    for (const e of lru) {
      if (bytes <= maxBytes * 0.9 && count <= Math.floor(maxEntries * 0.9)) break;
      victims.push(e);
      bytes -= e.bytes;
      count -= 1;
    }
    await this.evict(victims);
  }

  /** Evicts entries unused for longer than maxAgeMs, then enforces the size limits. */
  async sweep(): Promise<void> {
    const cutoff = Date.now() - this.limits.maxAgeMs;
    await this.evict(
      [...this.entries.values()].filter((e) => e.busy === 0 && !e.pending && e.lastAccess < cutoff),
    );
    await this.enforceBudget();
  }

  private async evict(victims: CacheEntry[]): Promise<void> {
    if (victims.length === 0) return;
    let bytes = 0;
    for (const e of victims) {
      this.unindex(e);
      bytes += e.bytes;
    }
    this.counters.evictions += victims.length;
    this.counters.evictedBytes += bytes;
    this.onEvict(victims.length, bytes);
    for (const e of victims) {
      await fs
        .rm(this.absolutePath(`e/${e.id.slice(0, 2)}/${e.id}`), { recursive: true, force: true })
        .catch((err: unknown) => {
          this.logger?.warn({ err, id: e.id }, 'could not remove evicted entry');
        });
    }
    this.logger?.debug({ count: victims.length, bytes }, 'evicted image cache entries');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.upgrade.removal;
    await this.flush();
  }
}

/** sha256 hex of bytes. */
export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
