import { rm } from 'node:fs/promises';

/**
 * Removes a lock held by the killed child. In production the next appender takes it over once it is `staleMs` old
 * (10 s); the harness knows the holder is dead and removes it, so 200 points do not wait 200 × 10 s. Returns 1 when
 * a lock was left behind (counted in the report), else 0.
 */
export async function removeStaleLock(path: string): Promise<number> {
  try {
    await rm(`${path}.lock`, { recursive: true });
    return 1;
  } catch {
    return 0;
  }
}
