import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
// Types only: the verifier (OpenPGP, ~0.1–0.3 s to import) loads in the worker, or on first use in-line, never at start.
import type { AdapterVerdict, verifyAdapter } from './adapter-verify.js';

type VerifyOptions = Parameters<typeof verifyAdapter>[0];

const WORKER = new URL('./adapter-verify-worker.js', import.meta.url);
let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, (v: AdapterVerdict) => void>();

function failAll(message: string): void {
  for (const [id, resolve] of pending) {
    pending.delete(id);
    resolve({ ok: false, reason: 'corrupt', message });
  }
}

function start(): Worker | undefined {
  if (worker) return worker;
  // Running from the TypeScript sources (tests) there is no compiled worker: verify in-line there.
  if (!existsSync(fileURLToPath(WORKER))) return undefined;
  // No inherited execArgv: e.g. a test runner's `--conditions @sarai/source` would make the worker load .ts sources.
  const w = new Worker(WORKER, { execArgv: [] });
  w.unref(); // never keeps the process alive
  w.on('message', (m: { id: number; verdict: AdapterVerdict }) => {
    const resolve = pending.get(m.id);
    pending.delete(m.id);
    resolve?.(m.verdict);
    if (pending.size === 0) w.unref();
  });
  w.on('error', (e) => failAll(`adapter verification worker failed: ${e.message}`));
  w.on('exit', () => {
    worker = undefined;
    failAll('adapter verification worker exited');
  });
  worker = w;
  return w;
}

/**
 * {@link verifyAdapter} in a worker thread (one, started on first use and reused): hashing a multi-MB adapter, the
 * OpenPGP signature check and the GGUF parse then cost the event loop nothing, so p99 latency of the token streams
 * stays flat during swaps. Same verdicts; falls back to the calling thread when the compiled worker is absent.
 * Never throws.
 */
export async function verifyAdapterOffThread(options: VerifyOptions): Promise<AdapterVerdict> {
  const w = start();
  if (!w) return (await import('./adapter-verify.js')).verifyAdapter(options);
  const id = nextId++;
  return new Promise<AdapterVerdict>((resolve) => {
    pending.set(id, resolve);
    w.ref(); // a verification in flight keeps the process alive until it answers
    w.postMessage({ id, options });
  });
}

/** Stops the verification worker (pending verifications are rejected as `corrupt`). */
export async function stopAdapterVerifyWorker(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}
