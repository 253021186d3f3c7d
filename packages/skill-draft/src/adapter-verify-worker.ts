// Worker thread entry of verifyAdapterOffThread (src/adapter-verify-pool.ts): runs verifyAdapter — sha256 of the
// adapter, the OpenPGP signature check and the GGUF parse — away from the service's event loop, so token streams
// keep flowing while an adapter is admitted.
import { constants, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { verifyAdapter } from './adapter-verify.js';

// Below the decode threads: on Linux the nice value is per thread and pid 0 is this thread, so hashing and signature
// checks yield the cores to token generation when both want them (lowering priority needs no privilege).
try {
  setPriority(0, constants.priority.PRIORITY_BELOW_NORMAL);
} catch {
  // not permitted or not supported here: verify at normal priority
}

type Request = { id: number; options: Parameters<typeof verifyAdapter>[0] };

parentPort?.on('message', (m: Request) => {
  void verifyAdapter(m.options).then((verdict) => parentPort?.postMessage({ id: m.id, verdict }));
});
