import { SandboxError } from '../errors.js';
import type { ResolvedLimits, SandboxLimits, SandboxRequest } from './types.js';

/** Defaults applied when a request leaves a limit unset (or 0). */
export const DEFAULT_LIMITS: ResolvedLimits = {
  wallMs: 5_000,
  cpuMs: 3_000,
  memoryMb: 160,
  outputBytes: 64 * 1024,
  testTimeoutMs: 1_000,
};

/** Ceilings a request can never exceed (the service may lower them). */
export const MAX_LIMITS: ResolvedLimits = {
  wallMs: 30_000,
  cpuMs: 20_000,
  memoryMb: 512,
  outputBytes: 1024 * 1024,
  testTimeoutMs: 10_000,
};

/** Below this the child cannot even start Node. */
const MIN_MEMORY_MB = 64;

/** Size bounds of a request. */
export const REQUEST_BOUNDS = { maxCodeBytes: 256 * 1024, maxTests: 200, maxTestJsonBytes: 256 * 1024 };

const FUNCTION_NAME = /^[A-Za-z_$][\w$]*$/;

/** Defaults + ceilings → effective limits. */
export function resolveLimits(
  limits: SandboxLimits | undefined,
  ceilings: ResolvedLimits = MAX_LIMITS,
): ResolvedLimits {
  const pick = (k: keyof ResolvedLimits): number => {
    const v = limits?.[k];
    const want = v === undefined || v <= 0 || !Number.isFinite(v) ? DEFAULT_LIMITS[k] : Math.floor(v);
    return Math.min(want, ceilings[k]);
  };
  return {
    wallMs: pick('wallMs'),
    cpuMs: pick('cpuMs'),
    memoryMb: Math.max(MIN_MEMORY_MB, pick('memoryMb')),
    outputBytes: pick('outputBytes'),
    testTimeoutMs: pick('testTimeoutMs'),
  };
}

/** Throws `SANDBOX_BAD_REQUEST` with what to fix when a request cannot be run. */
export function validateRequest(req: SandboxRequest): void {
  const bad = (msg: string): never => {
    throw new SandboxError('SANDBOX_BAD_REQUEST', msg);
  };
  if (req.language !== 'javascript' && req.language !== 'typescript')
    bad(`language must be "javascript" or "typescript", got ${JSON.stringify(req.language)}`);
  if (!FUNCTION_NAME.test(req.functionName))
    bad(`function_name must be a JavaScript identifier, got ${JSON.stringify(req.functionName)}`);
  if (Buffer.byteLength(req.code, 'utf8') > REQUEST_BOUNDS.maxCodeBytes)
    bad(`code is larger than ${REQUEST_BOUNDS.maxCodeBytes} bytes`);
  if (req.tests.length === 0) bad('tests is empty: give at least one test case');
  if (req.tests.length > REQUEST_BOUNDS.maxTests) bad(`at most ${REQUEST_BOUNDS.maxTests} tests per request`);
  let bytes = 0;
  req.tests.forEach((t, i) => {
    if (!Array.isArray(t.args)) bad(`tests[${i}].args must be a JSON array`);
    bytes += JSON.stringify(t.args).length + (JSON.stringify(t.expected) ?? '').length;
  });
  if (bytes > REQUEST_BOUNDS.maxTestJsonBytes)
    bad(`the tests' JSON is larger than ${REQUEST_BOUNDS.maxTestJsonBytes} bytes`);
}
