import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, open, readdir, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  adapterFileName,
  adapterName,
  dateStamp,
  errorMessage,
  sha256File as sha256FileOf,
} from '@sarai/formats';
import { TrainerError, asTrainerError } from './errors.js';

/**
 * sha256 (hex) of a file, streamed (@sarai/formats' `sha256File`).
 * @throws TrainerError `TRAINER_IO` when the file cannot be read.
 */
export async function sha256File(path: string): Promise<string> {
  try {
    return await sha256FileOf(path);
  } catch (error) {
    throw asTrainerError(error);
  }
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
    const file = adapterFileName(day, n === 1 ? 0 : n);
    if (!taken.has(adapterName(file))) return join(dir, file);
  }
}
