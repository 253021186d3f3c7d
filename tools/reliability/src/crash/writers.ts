import type { CrashWriter } from './protocol.js';

/**
 * Every on-disk writer whose crash consistency is checked, loaded lazily: a child imports only its own writer's
 * dependencies (no sharp or llama bindings in an audit-log child), which keeps a kill point cheap.
 */
const LOADERS: Record<string, () => Promise<CrashWriter>> = {
  'image-cache': async () => (await import('./image-cache-writer.js')).imageCacheWriter,
  'adapter-publish': async () => (await import('./adapter-writer.js')).adapterWriter,
  'audit-log': async () => (await import('./audit-writer.js')).auditWriter,
  'interaction-log': async () => (await import('./interaction-writer.js')).interactionWriter,
};

/** Names of the writers, in the order a full run goes through them. */
export const CRASH_WRITERS: readonly string[] = Object.keys(LOADERS);

export async function loadWriter(name: string): Promise<CrashWriter | undefined> {
  return LOADERS[name]?.();
}
