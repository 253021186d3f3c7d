import { OmniLoop, SkillPool, createReflectionSigner, type Checker } from '@sarai/loop-core';
import type { PromptSigner } from '@sarai/signer';
import { pino, type Logger } from 'pino';
import { join, resolve } from 'node:path';
import { startEmbedded, type Deployment } from './embedded.js';
import { localFallbacks, type LocalFallbacks } from './fallback.js';
import type { Io } from './io.js';
import { loadOrCreateSigner } from './keys.js';

export interface SessionOptions {
  embedded: boolean;
  iterations?: number;
  threshold?: number;
  maxTokens?: number;
  seed?: number;
  draftDeadlineMs?: number;
  checkers?: Checker[];
  /** Embedded skills serve their Prometheus metrics on loopback (Deployment.metricsAddresses). */
  embeddedMetrics?: boolean;
  /** Progress messages (stderr). */
  say?: (text: string) => void;
}

export interface Session {
  loop: OmniLoop;
  pool: SkillPool;
  signer: PromptSigner;
  publicKey: string;
  deployment: Deployment;
  fallback: LocalFallbacks;
  paths: { state: string; audit: string; interactions: string; imageCache: string };
  logger: Logger;
  close(): Promise<void>;
}

/** State directory: `SARAI_STATE_DIR`, default `./state` (audit log, interaction log, keys, image cache). */
export function statePaths(io: Io) {
  const state = resolve(io.cwd, io.env['SARAI_STATE_DIR'] || 'state');
  return {
    state,
    audit: join(state, 'audit.jsonl'),
    interactions: join(state, 'interactions.jsonl'),
    imageCache: resolve(io.cwd, io.env['SARAI_IMAGE_CACHE'] || join(state, 'image_cache')),
  };
}

/** Opens what a loop needs: skills (running, or embedded local processes), pool, signer, fallbacks. */
export async function openSession(io: Io, opts: SessionOptions): Promise<Session> {
  const paths = statePaths(io);
  const logger = pino(
    {
      level: io.env['LOG_LEVEL'] || 'warn',
      redact: { paths: ['prompt', 'response', '*.prompt', '*.response'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
  const { signer, publicKey } = await loadOrCreateSigner(paths.state, io);
  const deployment: Deployment = opts.embedded
    ? await startEmbedded(io, {
        imageCache: paths.imageCache,
        say: opts.say ?? (() => undefined),
        ...(opts.embeddedMetrics ? { metrics: true } : {}),
      })
    : { embedded: false, standIn: false, addresses: {}, stop: async () => undefined, skillPids: () => [] };
  const pool = new SkillPool({ addresses: deployment.addresses, env: io.env, logger });
  const fallback: LocalFallbacks = localFallbacks(io, {
    imageCache: paths.imageCache,
    ...(deployment.standInModel ? { standInModel: deployment.standInModel } : {}),
  });
  const loop = new OmniLoop({
    pool,
    signer: createReflectionSigner(signer, paths.audit),
    interactionLog: paths.interactions,
    fallback: {
      ...(fallback.draft ? { draft: fallback.draft } : {}),
      ...(fallback.image ? { image: fallback.image } : {}),
    },
    logger,
    ...(opts.iterations !== undefined ? { maxIterations: opts.iterations } : {}),
    ...(opts.threshold !== undefined ? { confidenceThreshold: opts.threshold } : {}),
    ...(opts.maxTokens !== undefined ? { maxTokens: opts.maxTokens } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.draftDeadlineMs !== undefined ? { draftDeadlineMs: opts.draftDeadlineMs } : {}),
    ...(opts.checkers ? { checkers: opts.checkers } : {}),
  });
  return {
    loop,
    pool,
    signer,
    publicKey,
    deployment,
    fallback,
    paths,
    logger,
    async close() {
      pool.close();
      await fallback.dispose();
      await deployment.stop();
    },
  };
}
