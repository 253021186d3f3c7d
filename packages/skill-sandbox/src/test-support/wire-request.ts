import { Language, type RunTestsRequest } from '@sarai/sandbox-contract';
import type { SandboxRequest } from '../runner/types.js';

/** Runner request → wire request (what a client such as loop-core sends). */
export function toWireRequest(r: SandboxRequest): RunTestsRequest {
  return {
    code: r.code,
    language: r.language === 'typescript' ? Language.TYPESCRIPT : Language.JAVASCRIPT,
    functionName: r.functionName,
    tests: r.tests.map((t) => ({
      argsJson: JSON.stringify(t.args),
      expectedJson: JSON.stringify(t.expected),
    })),
    ...(r.limits
      ? {
          limits: {
            wallMs: r.limits.wallMs ?? 0,
            cpuMs: r.limits.cpuMs ?? 0,
            memoryMb: r.limits.memoryMb ?? 0,
            outputBytes: r.limits.outputBytes ?? 0,
            testTimeoutMs: r.limits.testTimeoutMs ?? 0,
          },
        }
      : {}),
  };
}
