import { sandboxServiceDefinition, type ISandboxService } from '@sarai/sandbox-contract';
import { defineSkill, skillService, type ErrorStatusTable } from '@sarai/skill-runtime';
import { Counter, Histogram } from 'prom-client';
import { sandboxConfigSchema, type SandboxConfig } from './config.js';
import { SandboxError, type SandboxErrorCode } from './errors.js';
import { probeNetIsolation } from './runner/netns.js';
import { runTests, type RunnerOptions } from './runner/run-tests.js';
import { removeStaleSocket } from './unix-socket.js';
import { fromWire, toWire } from './wire.js';

function runnerOptions(c: SandboxConfig): RunnerOptions {
  return {
    ...(c.SANDBOX_NODE ? { nodePath: c.SANDBOX_NODE } : {}),
    ...(c.SANDBOX_WORK_ROOT ? { workRoot: c.SANDBOX_WORK_ROOT } : {}),
    ceilings: {
      wallMs: c.SANDBOX_MAX_WALL_MS,
      cpuMs: c.SANDBOX_MAX_CPU_MS,
      memoryMb: c.SANDBOX_MAX_MEMORY_MB,
      outputBytes: c.SANDBOX_MAX_OUTPUT_BYTES,
      testTimeoutMs: c.SANDBOX_MAX_TEST_TIMEOUT_MS,
    },
  };
}

/** How the sandbox's error codes travel (`"<CODE>: <message>"`). */
export const SANDBOX_ERROR_STATUS: ErrorStatusTable<SandboxErrorCode> = {
  SANDBOX_BAD_REQUEST: 'INVALID_ARGUMENT',
  SANDBOX_RUNNER_FAILED: 'INTERNAL',
  SANDBOX_BAD_CONFIG: 'FAILED_PRECONDITION',
};

/**
 * The sandbox skill: `sarai.sandbox.v1.SandboxService/RunTests`, each request in a fresh permission-restricted
 * child process. Admission (SANDBOX_CONCURRENCY children, SANDBOX_MAX_QUEUE waiting) and the error model come from
 * the runtime.
 */
export const sandboxSkill = defineSkill<SandboxConfig, RunnerOptions>({
  name: 'sandbox',
  config: sandboxConfigSchema,
  errors: SANDBOX_ERROR_STATUS,
  limits: (c) => ({ concurrency: c.SANDBOX_CONCURRENCY, maxQueue: c.SANDBOX_MAX_QUEUE }),
  // HOST=unix:/path (the container: no network, the socket on a shared volume) — clear a socket a killed
  // instance left behind, or the restart would fail with EADDRINUSE.
  init: async ({ config: c, logger }) => {
    await removeStaleSocket(c.HOST);
    const opts = runnerOptions(c);
    if (c.SANDBOX_NETWORK === 'inherit') return opts;
    const iso = await probeNetIsolation(opts.nodePath ?? process.execPath);
    if ('unshare' in iso) {
      logger.info({ unshare: iso.unshare }, 'sandbox children run without network (own network namespace)');
      return { ...opts, netns: iso };
    }
    if (c.SANDBOX_NETWORK === 'unshare')
      throw new SandboxError('SANDBOX_BAD_CONFIG', `SANDBOX_NETWORK=unshare: ${iso.reason}`);
    logger.warn(
      { reason: iso.reason },
      "sandbox children share this machine's network (no network namespace)",
    );
    return opts;
  },
  services: (ctx, runner) => {
    const runs = new Counter({
      name: 'sarai_sandbox_runs_total',
      help: 'RunTests requests run, by stop reason',
      labelNames: ['stop'],
      registers: [ctx.registry],
    });
    const peak = new Histogram({
      name: 'sarai_sandbox_peak_memory_bytes',
      help: 'Peak RSS of sandbox children',
      buckets: [48, 64, 96, 128, 192, 256, 512].map((mb) => mb * 1024 * 1024),
      registers: [ctx.registry],
    });
    const impl: Partial<ISandboxService> = {
      runTests(call, callback) {
        void (async () => {
          try {
            const result = await runTests(fromWire(call.request), runner);
            runs.inc({ stop: result.stop });
            peak.observe(result.peakMemoryBytes);
            if (result.stop !== 'ok')
              ctx.logger.info(
                { stop: result.stop, wallMs: Math.round(result.wallMs) },
                'sandbox run stopped',
              );
            callback(null, toWire(result));
          } catch (e) {
            callback(e as Error);
          }
        })();
      },
    };
    return [skillService(sandboxServiceDefinition, impl)];
  },
});
