import {
  Language,
  RunTestsResponse,
  StopReason as WireStop,
  type RunTestsRequest,
} from '@sarai/sandbox-contract';
import { SandboxError } from './errors.js';
import type { SandboxRequest, SandboxResult, StopReason } from './runner/types.js';

const STOP: Record<StopReason, WireStop> = {
  ok: WireStop.OK,
  timeout: WireStop.TIMEOUT,
  memory: WireStop.MEMORY,
  'output-limit': WireStop.OUTPUT_LIMIT,
  crash: WireStop.CRASH,
};

function json(text: string, field: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new SandboxError('SANDBOX_BAD_REQUEST', `${field} is not JSON (${(e as Error).message})`);
  }
}

/** Wire request → runner request. Unspecified language means JavaScript. Bad JSON → SANDBOX_BAD_REQUEST. */
export function fromWire(req: RunTestsRequest): SandboxRequest {
  const language = req.language === Language.TYPESCRIPT ? 'typescript' : 'javascript';
  const tests = req.tests.map((t, i) => {
    const args = json(t.argsJson, `tests[${i}].args_json`);
    if (!Array.isArray(args))
      throw new SandboxError(
        'SANDBOX_BAD_REQUEST',
        `tests[${i}].args_json must be a JSON array, e.g. [1, 2]`,
      );
    return { args, expected: json(t.expectedJson, `tests[${i}].expected_json`) };
  });
  const l = req.limits;
  return {
    code: req.code,
    language,
    functionName: req.functionName,
    tests,
    ...(l
      ? {
          limits: {
            wallMs: l.wallMs,
            cpuMs: l.cpuMs,
            memoryMb: l.memoryMb,
            outputBytes: l.outputBytes,
            testTimeoutMs: l.testTimeoutMs,
          },
        }
      : {}),
  };
}

/** Runner result → wire response. */
export function toWire(r: SandboxResult): RunTestsResponse {
  return RunTestsResponse.create({
    results: r.tests.map((t) => ({ passed: t.passed, gotJson: t.got, error: t.error })),
    stopReason: STOP[r.stop],
    error: r.error,
    stdout: r.stdout,
    stderr: r.stderr,
    stdoutTruncated: r.stdoutTruncated,
    stderrTruncated: r.stderrTruncated,
    wallMs: Math.round(r.wallMs),
    cpuMs: Math.round(r.cpuMs),
    peakMemoryBytes: String(Math.round(r.peakMemoryBytes)),
  });
}
