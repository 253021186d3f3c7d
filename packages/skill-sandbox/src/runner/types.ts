/** Languages the runner executes. TypeScript is stripped to JavaScript inside the child (Node ≥ 22.13). */
export type SandboxLanguage = 'javascript' | 'typescript';

/** Why a run stopped. `ok` means the child finished on its own (tests may still have failed). */
export type StopReason = 'ok' | 'timeout' | 'memory' | 'output-limit' | 'crash';

/** One unit test: call the function with `args`, compare the JSON result with `expected` (deep, key order free). */
export interface SandboxTest {
  args: unknown[];
  expected: unknown;
}

/** Per-request limits. Every field is optional; values above the runner's ceilings are clamped to them. */
export interface SandboxLimits {
  /** Wall-clock budget of the whole request (child start to exit), ms. */
  wallMs?: number;
  /** CPU time budget of the child (user + system), ms. */
  cpuMs?: number;
  /** Peak resident memory of the child, MiB (the V8 heap is capped below it). */
  memoryMb?: number;
  /** Bytes kept of stdout and of stderr each; more output stops the run with `output-limit`. */
  outputBytes?: number;
  /** Budget of one test call (and of loading the code), ms. A test over it fails; the run goes on. */
  testTimeoutMs?: number;
}

/** What to run: code defining `functionName`, and its tests. */
export interface SandboxRequest {
  code: string;
  language: SandboxLanguage;
  functionName: string;
  tests: SandboxTest[];
  limits?: SandboxLimits;
}

/** Result of one test. `got` is the JSON of the returned value ('undefined' for undefined), '' when none. */
export interface SandboxTestResult {
  passed: boolean;
  got: string;
  error: string;
}

/** Result of one request. */
export interface SandboxResult {
  tests: SandboxTestResult[];
  /** Why the child stopped. */
  stop: StopReason;
  /** A problem with the code as a whole (does not compile, no such function, run stopped), '' when none. */
  error: string;
  /** Captured output of the code (console.log/info/debug → stdout, warn/error → stderr), capped. */
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  wallMs: number;
  cpuMs: number;
  /** Peak resident set size of the child, bytes. */
  peakMemoryBytes: number;
}

/** Effective limits after defaults and ceilings. */
export type ResolvedLimits = Required<SandboxLimits>;
