import type {
  DraftOptions,
  DraftResult,
  ImageInfo,
  LocalDraftModel,
  LocalImagePipeline,
} from '@sarai/loop-core';
import type { DraftEngine } from '@sarai/skill-draft';
import { existsSync } from 'node:fs';
import { sharedHostThreads } from './embedded.js';
import { CliError } from './errors.js';
import type { Io } from './io.js';

export interface LocalFallbacks {
  draft?: LocalDraftModel;
  image?: LocalImagePipeline;
  dispose(): Promise<void>;
}

/**
 * In-process fallbacks used only when a skill is down: the draft model (`SARAI_FALLBACK_MODEL`, or the embedded
 * stand-in) and the image pipeline (same hash and cache layout as skill-image). Both load lazily on first use, so a
 * healthy deployment keeps the host small.
 */
export function localFallbacks(io: Io, opts: { imageCache: string; standInModel?: string }): LocalFallbacks {
  const modelPath = io.env['SARAI_FALLBACK_MODEL'] || opts.standInModel;
  if (io.env['SARAI_FALLBACK_MODEL'] && !existsSync(io.env['SARAI_FALLBACK_MODEL'])) {
    throw new CliError('CLI_CONFIG', `SARAI_FALLBACK_MODEL=${io.env['SARAI_FALLBACK_MODEL']}: no such file`);
  }
  let draftEngine: Promise<DraftEngine> | undefined;
  const draft: LocalDraftModel | undefined = modelPath
    ? {
        async generate(prompt: string, o: DraftOptions): Promise<DraftResult> {
          draftEngine ??= import('@sarai/skill-draft').then((m) =>
            m.DraftEngine.load({
              modelPath,
              threads: sharedHostThreads(io.env),
              contextSize: 2048,
              sequences: 1,
              maxQueue: 8,
            }),
          );
          const r = await (
            await draftEngine
          ).generate(
            {
              prompt,
              maxTokens: o.maxTokens,
              stop: o.stop,
              temperature: o.temperature,
              logprobs: true,
              ...(o.grammar ? { grammar: o.grammar } : {}),
              ...(o.seed !== undefined ? { seed: o.seed } : {}),
            },
            o.signal ? { signal: o.signal } : {},
          );
          return { text: r.text, ...(r.meanLogprob !== undefined ? { meanLogprob: r.meanLogprob } : {}) };
        },
      }
    : undefined;
  let imageUsed = false;
  const image: LocalImagePipeline = {
    async preprocess(bytes, o): Promise<Omit<ImageInfo, 'source'>> {
      imageUsed = true;
      const { preprocessImageLocal } = await import('@sarai/skill-image');
      const r = await preprocessImageLocal(bytes, { format: o.format, quality: o.quality }, opts.imageCache);
      return {
        path: r.path,
        perceptualHash: r.perceptualHash,
        width: r.width,
        height: r.height,
        format: r.format,
        cache: r.cache,
      };
    },
  };
  return {
    ...(draft ? { draft } : {}),
    image,
    async dispose() {
      if (draftEngine) await (await draftEngine.catch(() => undefined))?.dispose();
      if (imageUsed) await (await import('@sarai/skill-image')).closeLocalPipelines();
    },
  };
}
