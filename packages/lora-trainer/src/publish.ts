import { access, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { adapterArtifacts, type AdapterArtifacts, errorMessage } from '@sarai/formats';
import { TrainerError } from './errors.js';
import { moveNoClobber } from './files.js';

export interface PublishAdapterOptions {
  /** The adapter to publish; manifest, signature and dataset default to its sibling artifacts. */
  adapterPath: string;
  adaptersDir: string;
  manifestPath?: string;
  signaturePath?: string;
  /** Set to null to leave the dataset JSONL where it is. */
  datasetPath?: string | null;
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Moves a run's files into `adaptersDir` without overwriting anything. The adapter comes last, so whoever watches
 * for new `lora_*.gguf` files finds its signed manifest already there. On a failure, files already moved are moved
 * back. Throws TRAINER_PUBLISH_CONFLICT when a destination name exists.
 */
export async function publishAdapter(options: PublishAdapterOptions): Promise<AdapterArtifacts> {
  const src = adapterArtifacts(options.adapterPath);
  const from = {
    adapter: options.adapterPath,
    manifest: options.manifestPath ?? src.manifest,
    signature: options.signaturePath ?? src.signature,
    dataset: options.datasetPath === undefined ? src.dataset : options.datasetPath,
  };
  const to = adapterArtifacts(join(options.adaptersDir, basename(options.adapterPath)));
  const order: Array<keyof AdapterArtifacts> = ['dataset', 'signature', 'manifest', 'adapter'];
  const moves: Array<{ from: string; to: string }> = [];
  for (const kind of order) {
    const f = from[kind];
    if (f === null) continue;
    if (!(await exists(f))) {
      if (kind === 'dataset' && options.datasetPath === undefined) continue; // optional sibling
      throw new TrainerError('TRAINER_IO', `cannot publish: ${f} does not exist`);
    }
    if (await exists(to[kind]))
      throw new TrainerError('TRAINER_PUBLISH_CONFLICT', `${to[kind]} already exists`);
    moves.push({ from: f, to: to[kind] });
  }
  await mkdir(options.adaptersDir, { recursive: true });
  const done: Array<{ from: string; to: string }> = [];
  try {
    for (const m of moves) {
      await moveNoClobber(m.from, m.to);
      done.push(m);
    }
  } catch (cause) {
    for (const m of done.reverse()) await moveNoClobber(m.to, m.from).catch(() => undefined);
    if (cause instanceof TrainerError) throw cause;
    throw new TrainerError('TRAINER_IO', `cannot publish ${options.adapterPath}: ${errorMessage(cause)}`, {
      cause,
    });
  }
  return to;
}
