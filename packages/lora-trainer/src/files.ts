import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TrainerError, errorMessage } from './errors.js';

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (cause) {
    throw new TrainerError('TRAINER_IO', `cannot read ${path}: ${errorMessage(cause)}`, { cause });
  }
  return hash.digest('hex');
}

export function sha256Text(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

const isErrno = (e: unknown, code: string): boolean =>
  (e as NodeJS.ErrnoException | undefined)?.code === code;

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}

/**
 * Writes `data` to `path` atomically without ever replacing an existing file: a temp file in the same directory,
 * fsync, then link(2) to the final name (fails on an existing name with TRAINER_PUBLISH_CONFLICT), then the temp
 * name is removed. Readers see either no file or the complete file.
 */
export async function writeFileExclusive(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await linkNoClobber(tmp, path);
    await fsyncDir(dirname(path));
  } catch (cause) {
    if (cause instanceof TrainerError) throw cause;
    throw new TrainerError('TRAINER_IO', `cannot write ${path}: ${errorMessage(cause)}`, { cause });
  } finally {
    await rm(tmp, { force: true });
  }
}

async function linkNoClobber(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (cause) {
    if (isErrno(cause, 'EEXIST')) {
      throw new TrainerError(
        'TRAINER_PUBLISH_CONFLICT',
        `${to} already exists; adapters and manifests are never overwritten`,
        {
          cause,
        },
      );
    }
    throw cause;
  }
}

/**
 * Moves a file to `to` without replacing anything: link + unlink on the same filesystem, otherwise a copy to a
 * temp name in the destination directory, fsync, link, and removal of the source.
 */
export async function moveNoClobber(from: string, to: string): Promise<void> {
  try {
    await linkNoClobber(from, to);
  } catch (cause) {
    if (!isErrno(cause, 'EXDEV')) throw cause;
    const tmp = join(dirname(to), `.${basename(to)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await copyFile(from, tmp);
      const handle = await open(tmp, 'r+');
      await handle.sync().finally(() => handle.close());
      await linkNoClobber(tmp, to);
    } finally {
      await rm(tmp, { force: true });
    }
  }
  await unlink(from);
}

/** The files of one training run, all named after the adapter (`lora_20261124-2.gguf` → `lora_20261124-2.*`). */
export interface RunArtifacts {
  adapter: string;
  manifest: string;
  signature: string;
  dataset: string;
}

export const ADAPTER_NAME_PATTERN = /^lora_(\d{8})(?:-(\d+))?\.gguf$/;

export function artifactsFor(adapterPath: string): RunArtifacts {
  const stem = adapterPath.replace(/\.gguf$/, '');
  return {
    adapter: adapterPath,
    manifest: `${stem}.manifest.json`,
    signature: `${stem}.manifest.json.asc`,
    dataset: `${stem}.dataset.jsonl`,
  };
}

/** `YYYYMMDD` of a date, in UTC. */
export function dateStamp(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

/**
 * First free adapter path `lora_YYYYMMDD.gguf`, `lora_YYYYMMDD-2.gguf`, ... in `dir`, checking every directory in
 * `alsoFreeIn` too (e.g. the published adapters directory when training into a staging directory). A name is taken
 * when any artifact of that run exists.
 */
export async function allocateAdapterPath(
  dir: string,
  date: Date,
  alsoFreeIn: readonly string[] = [],
): Promise<string> {
  const taken = new Set<string>();
  for (const d of [dir, ...alsoFreeIn]) {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const m = /^(lora_\d{8}(?:-\d+)?)\./.exec(name);
      if (m) taken.add(m[1] as string);
    }
  }
  const day = dateStamp(date);
  for (let n = 1; ; n++) {
    const stem = n === 1 ? `lora_${day}` : `lora_${day}-${n}`;
    if (!taken.has(stem)) return join(dir, `${stem}.gguf`);
  }
}
