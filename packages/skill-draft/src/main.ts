// Entry point of the draft skill image: config from env, gRPC server (NOT_SERVING), model load (SERVING),
// SIGTERM → NOT_SERVING, drain, exit 0. The model starts loading first; once llama.cpp reads the weights on the
// libuv thread pool, the gRPC stack is imported meanwhile (Node 24 loads modules on the main thread), so container
// start → SERVING overlaps both.
import { preloadModel } from './preload.js';

const preloaded = preloadModel(process.env);
await preloaded?.started;
const { runDraftSkill } = await import('./service.js');
runDraftSkill(preloaded);
