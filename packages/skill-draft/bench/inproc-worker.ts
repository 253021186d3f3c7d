import { pathToFileURL } from 'node:url';

// Forked by bench.ts: plain node-llama-cpp in-process (no service code), the baseline the gRPC numbers are divided
// by. argv: <prebuilt|openmp> <model> <threads>. Answers {decode: n} messages with the decode rate of n tokens.
import type { Token } from 'node-llama-cpp';
// The OpenMP variant (its cmake options name the build's folder) is chosen as the service chooses it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { chooseOpenmpVariant } from '@sarai/skill-draft';

// argv[5]: the OpenMP copy of node-llama-cpp (scripts/openmp-binaries.mjs) when binaries = openmp.
const [binaries = 'prebuilt', modelPath = '', threadsArg = '2', openmpModule = ''] = process.argv.slice(2);
const threads = Number(threadsArg);
const { LlamaLogLevel, getLlama } = (await import(
  binaries === 'openmp' ? pathToFileURL(openmpModule).href : 'node-llama-cpp'
)) as typeof import('node-llama-cpp');
const choice = binaries === 'openmp' ? await chooseOpenmpVariant(openmpModule) : undefined;
if (choice && 'reason' in choice) throw new Error(choice.reason);
const llama = await getLlama({
  gpu: false,
  maxThreads: threads,
  build: 'never',
  logLevel: LlamaLogLevel.error,
  ...(binaries === 'openmp'
    ? { usePrebuiltBinaries: false, cmakeOptions: { ...choice?.variant.cmakeOptions } }
    : {}),
});
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
// Flash attention as the service (FLASH_ATTENTION defaults to true) and llama-bench (-fa auto) run it.
const context = await model.createContext({ contextSize: 1024, threads, flashAttention: true });
const sequence = context.getSequence();
const prompt = model.tokenize('The quick brown fox jumps over the lazy dog.');

/** Greedy decode of n tokens (end-of-generation tokens are fed back like any other): (n − 1) ÷ first→last. */
async function decode(n: number): Promise<number> {
  await sequence.clearHistory();
  let count = 0;
  let first = 0;
  let last = 0;
  for await (const _token of sequence.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
    last = performance.now();
    if (count === 0) first = last;
    if (++count >= n) break;
  }
  return (count - 1) / ((last - first) / 1000);
}

process.on('message', (msg: { decode?: number; exit?: boolean }) => {
  if (msg.exit) {
    void context.dispose().then(() => process.exit(0));
    return;
  }
  void decode(msg.decode ?? 64).then((rate) =>
    process.send?.({ rate, rssMb: process.memoryUsage.rss() / 2 ** 20 }),
  );
});
process.send?.({ ready: true, buildType: llama.buildType });
