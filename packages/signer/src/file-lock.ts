import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { SignerError, errorMessage } from './signer-error.js';

export interface FileLockOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** A lock not refreshed for this long is considered abandoned (crashed holder) and taken over (default 10 s). */
  staleMs?: number;
}

export interface HeldLock {
  /** Throws when the cross-process lock was lost while held (e.g. the event loop blocked longer than `staleMs`). */
  assertHeld(): void;
}

/** Tail of the in-process queue per absolute path: callers in one process wait their turn instead of spinning. */
const queues = new Map<string, Promise<void>>();

/**
 * Runs `fn` while holding an exclusive lock on `path`, both in-process (FIFO queue) and across processes
 * (proper-lockfile: an atomic `mkdir` of `<path>.lock`, refreshed while held, stale locks of crashed holders taken
 * over after `staleMs`).
 */
export async function withFileLock<T>(
  path: string,
  fn: (lock: HeldLock) => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const key = resolve(path);
  const previous = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((r) => (done = r));
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  try {
    await previous;
    return await withProcessLock(key, fn, options);
  } finally {
    done();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

async function withProcessLock<T>(
  path: string,
  fn: (lock: HeldLock) => Promise<T>,
  options: FileLockOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = Math.max(options.staleMs ?? 10_000, 2_000);
  const deadline = Date.now() + timeoutMs;
  let compromised: Error | null = null;
  let release: () => Promise<void>;
  let wait = 1;
  for (;;) {
    try {
      release = await lockfile.lock(path, {
        realpath: false,
        stale: staleMs,
        retries: 0,
        onCompromised: (err) => {
          compromised = err;
        },
      });
      break;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new SignerError('SIGNER_AUDIT_IO', `cannot lock ${path}: ${errorMessage(cause)}`, { cause });
      }
      if (Date.now() >= deadline) {
        throw new SignerError('SIGNER_AUDIT_LOCK_TIMEOUT', `could not lock ${path} within ${timeoutMs} ms`, {
          cause,
        });
      }
      // Jittered backoff, capped low: critical sections are a few milliseconds.
      await sleep(wait + Math.random() * wait);
      wait = Math.min(wait * 2, 25);
    }
  }
  const held: HeldLock = {
    assertHeld() {
      if (compromised !== null) {
        throw new SignerError('SIGNER_AUDIT_IO', `lock on ${path} was lost: ${errorMessage(compromised)}`, {
          cause: compromised,
        });
      }
    },
  };
  try {
    return await fn(held);
  } finally {
    if (compromised === null) await release().catch(() => undefined);
  }
}
