// Worker thread entry of verifyAdapterOffThread (src/adapter-verify-pool.ts): runs verifyAdapter — sha256 of the
// adapter, the OpenPGP signature check and the GGUF parse — away from the service's event loop, so token streams
// keep flowing while an adapter is admitted.
import { parentPort } from 'node:worker_threads';
import { verifyAdapter } from './adapter-verify.js';

type Request = { id: number; options: Parameters<typeof verifyAdapter>[0] };

parentPort?.on('message', (m: Request) => {
  void verifyAdapter(m.options).then((verdict) => parentPort?.postMessage({ id: m.id, verdict }));
});
