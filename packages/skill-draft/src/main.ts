// Entry point of the draft skill image: config from env, gRPC server (NOT_SERVING), model load (SERVING),
// SIGTERM → NOT_SERVING, drain, exit 0. The model starts loading first; once llama.cpp reads the weights on the
// libuv thread pool, the gRPC stack is imported meanwhile (Node 24 loads modules on the main thread), so container
// start → SERVING overlaps both.
import { preloadModel } from './preload.js';

// Nothing listens yet: a stop request before the runtime installs its handlers has nothing to drain.
const stopEarly = () => process.exit(0);
process.once('SIGTERM', stopEarly).once('SIGINT', stopEarly);
const preloaded = preloadModel(process.env);
await preloaded?.started;
const { runDraftSkill } = await import('./service.js');
process.off('SIGTERM', stopEarly).off('SIGINT', stopEarly);
runDraftSkill(preloaded);
