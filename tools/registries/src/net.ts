import { setTimeout as sleep } from 'node:timers/promises';
import { RegistriesError } from './errors.js';

/** A TCP port free on 127.0.0.1 right now (@sarai/formats' `freePort`, re-exported for this package). */
export { freePort } from '@sarai/formats';

/** Polls `url` until it answers with one of `okStatus` or `timeoutMs` passes; `alive()` false stops early. */
export async function waitForHttp(
  url: string,
  opts: { timeoutMs: number; okStatus?: number[]; alive?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const dead = opts.alive?.();
    if (dead) throw new RegistriesError('REGISTRIES_START_FAILED', dead);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if ((opts.okStatus ?? [200]).includes(res.status)) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(150);
  }
  throw new RegistriesError(
    'REGISTRIES_START_FAILED',
    `${url} did not answer within ${opts.timeoutMs} ms (${last})`,
  );
}
