import { RpcError } from '@sarai/proto';
import { Language, StopReason, type RunTestsRequest, type RunTestsResponse } from '@sarai/sandbox-contract';
import { Ajv, type ValidateFunction } from 'ajv';
import type { CodeSandbox } from './code-sandbox.js';

export interface CheckContext {
  /** The user's original request. */
  prompt: string;
}

export interface CheckOutcome {
  pass: boolean;
  /** What is wrong, in words the model can act on (goes into the next reflection prompt). */
  feedback: string;
  /**
   * The check could not be made (e.g. the code sandbox is down): `pass` is false, and the answer was not judged.
   * Shown as UNAVAILABLE in the reflection feedback.
   */
  unavailable?: boolean;
}

export interface CheckResult extends CheckOutcome {
  checker: string;
}

/** An external signal on an answer: schema, regex, function, unit tests. */
export interface Checker {
  readonly name: string;
  check(answer: string, ctx: CheckContext): Promise<CheckOutcome> | CheckOutcome;
}

/** Runs every checker; a checker that throws fails with its error as feedback (it never breaks the loop). */
export async function runCheckers(
  checkers: readonly Checker[],
  answer: string,
  ctx: CheckContext,
): Promise<CheckResult[]> {
  return Promise.all(
    checkers.map(async (c) => {
      try {
        return { checker: c.name, ...(await c.check(answer, ctx)) };
      } catch (e) {
        return { checker: c.name, pass: false, feedback: `checker failed: ${(e as Error).message}` };
      }
    }),
  );
}

/** Passes when the answer matches (or, with `mustMatch: false`, does not match) a pattern. */
export function regexChecker(
  pattern: RegExp,
  opts: { name?: string; mustMatch?: boolean; feedback?: string } = {},
): Checker {
  const mustMatch = opts.mustMatch ?? true;
  return {
    name: opts.name ?? `regex ${pattern}`,
    check(answer) {
      pattern.lastIndex = 0;
      const pass = pattern.test(answer) === mustMatch;
      return {
        pass,
        feedback: pass
          ? 'ok'
          : (opts.feedback ?? `the answer must ${mustMatch ? '' : 'not '}match ${pattern}`),
      };
    },
  };
}

/** Wraps a function: `true`/`false`, or a string with feedback (treated as a failure). */
export function functionChecker(
  name: string,
  fn: (
    answer: string,
    ctx: CheckContext,
  ) => boolean | string | CheckOutcome | Promise<boolean | string | CheckOutcome>,
): Checker {
  return {
    name,
    async check(answer, ctx) {
      const r = await fn(answer, ctx);
      if (typeof r === 'boolean') return { pass: r, feedback: r ? 'ok' : `${name} failed` };
      if (typeof r === 'string') return { pass: false, feedback: r };
      return r;
    },
  };
}

/** The first JSON value in a text: a fenced ```json block, else the outermost {...} or [...], else the whole text. */
export function extractJson(text: string): string {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)```/.exec(text);
  if (fenced?.[1]) return fenced[1].trim();
  const starts = [text.indexOf('{'), text.indexOf('[')].filter((i) => i >= 0);
  if (starts.length === 0) return text.trim();
  const start = Math.min(...starts);
  const end = Math.max(text.lastIndexOf('}'), text.lastIndexOf(']'));
  return end > start ? text.slice(start, end + 1) : text.trim();
}

/** Passes when the answer holds JSON valid against a JSON Schema (ajv). Feedback lists what is wrong. */
export function jsonSchemaChecker(schema: object, opts: { name?: string } = {}): Checker {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate: ValidateFunction = ajv.compile(schema);
  return {
    name: opts.name ?? 'json-schema',
    check(answer) {
      let value: unknown;
      try {
        value = JSON.parse(extractJson(answer));
      } catch (e) {
        return {
          pass: false,
          feedback: `the answer is not valid JSON (${(e as Error).message}); reply with JSON only`,
        };
      }
      if (validate(value)) return { pass: true, feedback: 'ok' };
      const errs = (validate.errors ?? []).map(
        (e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`,
      );
      return { pass: false, feedback: `the JSON does not match the schema: ${errs.join('; ')}` };
    },
  };
}

export interface CodeTest {
  args: unknown[];
  expected: unknown;
}

/** The code in an answer: the first fenced block, else the whole text. */
export function extractCode(text: string): string {
  const fenced = /```[a-zA-Z]*\s*\n([\s\S]*?)```/.exec(text);
  return (fenced?.[1] ?? text).trim();
}

/** Longest returned value quoted in feedback (the rest is cut: feedback goes into the next prompt). */
const GOT_MAX = 200;
const clip = (t: string) => (t.length > GOT_MAX ? `${t.slice(0, GOT_MAX)}…` : t);

function feedbackOf(fn: string, tests: readonly CodeTest[], r: RunTestsResponse): CheckOutcome {
  if (r.error && r.results.every((t) => !t.passed && !t.gotJson)) return { pass: false, feedback: r.error };
  const failures: string[] = [];
  tests.forEach((t, i) => {
    const res = r.results[i];
    const call = `${fn}(${t.args.map((a) => JSON.stringify(a)).join(', ')})`;
    if (!res) failures.push(`${call} was not run`);
    else if (res.error) failures.push(`${call} threw ${clip(res.error)}`);
    else if (!res.passed)
      failures.push(`${call} returned ${clip(res.gotJson)}, expected ${JSON.stringify(t.expected)}`);
  });
  if (failures.length === 0 && r.stopReason === StopReason.OK)
    return { pass: true, feedback: `all ${tests.length} tests pass` };
  const stopped = r.stopReason !== StopReason.OK && r.error ? ` (${r.error})` : '';
  return {
    pass: false,
    feedback: `${failures.length}/${tests.length} tests fail: ${failures.join('; ')}${stopped}`,
  };
}

/**
 * Runs unit tests against a function in the answer — never in this process: in the sandbox skill
 * (`sarai.sandbox.v1`, a fresh permission-restricted child process per check, in a network-less container), reached
 * through `sandbox` (usually {@link poolSandbox}). When the sandbox is down, slow or refuses, the outcome is
 * `unavailable` (not a pass, not a failure of the answer) and says so in its feedback.
 */
export function codeTestsChecker(opts: {
  functionName: string;
  tests: CodeTest[];
  /** Where the tests run. */
  sandbox: CodeSandbox;
  name?: string;
  /** Budget of one test call, ms (default 1000). */
  timeoutMs?: number;
  language?: 'javascript' | 'typescript';
}): Checker {
  const timeoutMs = opts.timeoutMs ?? 1_000;
  if (!/^[A-Za-z_$][\w$]*$/.test(opts.functionName))
    throw new TypeError(`not a function name: ${opts.functionName}`);
  const wallMs = Math.min(30_000, timeoutMs * (opts.tests.length + 1) + 1_000);
  const tests = opts.tests.map((t) => ({
    argsJson: JSON.stringify(t.args),
    expectedJson: JSON.stringify(t.expected) ?? 'null',
  }));
  return {
    name: opts.name ?? `tests of ${opts.functionName}`,
    async check(answer) {
      const request: RunTestsRequest = {
        code: extractCode(answer),
        language: opts.language === 'typescript' ? Language.TYPESCRIPT : Language.JAVASCRIPT,
        functionName: opts.functionName,
        tests,
        limits: { wallMs, cpuMs: wallMs, memoryMb: 0, outputBytes: 0, testTimeoutMs: timeoutMs },
      };
      let response: RunTestsResponse;
      try {
        // queueing in the sandbox's admission counts too: a slow sandbox is an unavailable one
        response = await opts.sandbox.runTests(request, wallMs + 2_000);
      } catch (e) {
        if (e instanceof RpcError && e.code === 'INVALID_ARGUMENT')
          return { pass: false, feedback: `the code sandbox cannot run this answer: ${e.message}` };
        return {
          pass: false,
          unavailable: true,
          feedback: `unavailable: the code sandbox did not run the tests (${(e as Error).message}); this is not a pass`,
        };
      }
      return feedbackOf(opts.functionName, opts.tests, response);
    },
  };
}
