// The REMOVED in-process path of loop-core's codeTestsChecker (until 1e7cd59): a worker thread of the caller with a
// `vm` context. Kept here only as the bench's baseline — it is not isolation (the payload read the host's
// environment and wrote host files through it) and must never run model-written code again.
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const vm = require('node:vm');
const { code, fn, tests, timeoutMs } = workerData;
const results = [];
try {
  const ctx = vm.createContext({});
  vm.runInContext(code + '\\n;globalThis.__fn = typeof ' + fn + ' === "function" ? ' + fn + ' : undefined;', ctx, { timeout: timeoutMs });
  if (typeof ctx.__fn !== 'function') {
    parentPort.postMessage({ error: 'the code does not define a function named ' + fn });
  } else {
    for (const t of tests) {
      try {
        ctx.__args = JSON.parse(JSON.stringify(t.args));
        const got = vm.runInContext('JSON.stringify(__fn(...__args))', ctx, { timeout: timeoutMs });
        results.push({ got: got === undefined ? 'undefined' : got });
      } catch (e) {
        results.push({ error: String(e && e.message || e) });
      }
    }
    parentPort.postMessage({ results });
  }
} catch (e) {
  parentPort.postMessage({ error: 'the code does not run: ' + String(e && e.message || e) });
}
`;

export interface WorkerTest {
  args: unknown[];
  expected: unknown;
}

/** Runs the tests the old way; resolves with how many passed. */
export function runInProcessWorker(
  code: string,
  fn: string,
  tests: WorkerTest[],
  timeoutMs = 1_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { code, fn, tests, timeoutMs },
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
    });
    worker.once('message', (m: { error?: string; results?: Array<{ got?: string }> }) => {
      void worker.terminate();
      if (m.error) return reject(new Error(m.error));
      resolve(tests.filter((t, i) => m.results?.[i]?.got === JSON.stringify(t.expected)).length);
    });
    worker.once('error', reject);
  });
}
