// Host-side fallback: the same pipeline in-process when the skill container is unreachable. Same keys, same
// hash, same cache layout and file names, so the loop finds the file where the service would have put it.
import path from 'node:path';
import { ImagePipeline, type ImageRequest, type ImageResult, type PipelineOptions } from './pipeline.js';

const pipelines = new Map<string, Promise<ImagePipeline>>();

/**
 * Preprocesses an image in this process, writing into the shared cache at `cacheDir` (e.g. state/image_cache).
 * One pipeline (and index scan) per cache directory, opened on first use and kept until
 * {@link closeLocalPipelines}. Options apply only when the directory's pipeline is first opened: pass the same
 * defaults as the service (IMAGE_DEFAULT_*) to get the same variant files.
 * Throws {@link ImageError} like the service (same codes).
 */
export async function preprocessImageLocal(
  bytes: Uint8Array,
  opts: ImageRequest,
  cacheDir: string,
  pipelineOptions: Omit<PipelineOptions, 'cacheDir'> = {},
): Promise<ImageResult> {
  const root = path.resolve(cacheDir);
  let p = pipelines.get(root);
  if (!p) {
    p = ImagePipeline.open({ concurrency: 1, ...pipelineOptions, cacheDir: root });
    pipelines.set(root, p);
    p.catch(() => pipelines.delete(root));
  }
  return (await p).process(bytes, opts);
}

/** Closes the fallback's pipelines (persists recency data). */
export async function closeLocalPipelines(): Promise<void> {
  const all = [...pipelines.values()];
  pipelines.clear();
  for (const p of all) await (await p.catch(() => undefined))?.close();
}
