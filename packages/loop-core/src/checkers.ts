import { Ajv, type ValidateFunction } from 'ajv';
import { Worker } from 'node:worker_threads';

export interface CheckContext {
  /** The user's original request. */
  prompt: string;
}

export interface CheckOutcome {
  pass: boolean;
  /** What is wrong, in words the model can act on (goes into the next reflection prompt). */
  feedback: string;
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

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const vm = require('node:vm');
const { code, fn, tests, timeoutMs } = workerData;
const results = [];
try {
  const ctx = vm.createContext({});
  vm.runInContext(code + '\\n;globalThis.__fn = typeof ' + fn + ' === "function" ? ' + fn + ' : undefined;', ctx, { timeout: timeoutMs });
  if (typeof ctx.__fn !== 'function') {
    parentPort.postMessage({ error: 'the code does not define a function named ' + fn });
  } else {
    for (const t of tests) {
      try {
        ctx.__args = JSON.parse(JSON.stringify(t.args));
        const got = vm.runInContext('JSON.stringify(__fn(...__args))', ctx, { timeout: timeoutMs });
        results.push({ got: got === undefined ? 'undefined' : got });
      } catch (e) {
        results.push({ error: String(e && e.message || e) });
      }
    }
    parentPort.postMessage({ results });
  }
} catch (e) {
  parentPort.postMessage({ error: 'the code does not run: ' + String(e && e.message || e) });
}
`;

/**
 * Runs unit tests against a JavaScript function in the answer, in a worker thread with a fresh `vm` context, a
 * per-test timeout and a memory cap. This isolates crashes and endless loops of model-written code; it is not a
 * security sandbox against hostile code.
 */
export function codeTestsChecker(opts: {
  functionName: string;
  tests: CodeTest[];
  name?: string;
  timeoutMs?: number;
}): Checker {
  const timeoutMs = opts.timeoutMs ?? 1_000;
  if (!/^[A-Za-z_$][\w$]*$/.test(opts.functionName))
    throw new TypeError(`not a function name: ${opts.functionName}`);
  return {
    name: opts.name ?? `tests of ${opts.functionName}`,
    check(answer) {
      const code = extractCode(answer);
      return new Promise<CheckOutcome>((resolve) => {
        const worker = new Worker(WORKER, {
          eval: true,
          workerData: { code, fn: opts.functionName, tests: opts.tests, timeoutMs },
          resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
        });
        const kill = setTimeout(
          () => {
            void worker.terminate();
            resolve({
              pass: false,
              feedback: `the tests did not finish within ${timeoutMs * (opts.tests.length + 1)} ms`,
            });
          },
          timeoutMs * (opts.tests.length + 1) + 1_000,
        );
        worker.once('message', (m: { error?: string; results?: Array<{ got?: string; error?: string }> }) => {
          clearTimeout(kill);
          void worker.terminate();
          if (m.error) return resolve({ pass: false, feedback: m.error });
          const failures: string[] = [];
          opts.tests.forEach((t, i) => {
            const r = m.results?.[i];
            const want = JSON.stringify(t.expected);
            if (r?.error)
              failures.push(
                `${opts.functionName}(${t.args.map((a) => JSON.stringify(a)).join(', ')}) threw ${r.error}`,
              );
            else if (r?.got !== want)
              failures.push(
                `${opts.functionName}(${t.args.map((a) => JSON.stringify(a)).join(', ')}) returned ${r?.got}, expected ${want}`,
              );
          });
          resolve(
            failures.length === 0
              ? { pass: true, feedback: `all ${opts.tests.length} tests pass` }
              : {
                  pass: false,
                  feedback: `${failures.length}/${opts.tests.length} tests fail: ${failures.join('; ')}`,
                },
          );
        });
        worker.once('error', (e) => {
          clearTimeout(kill);
          resolve({ pass: false, feedback: `the code crashed the test runner: ${e.message}` });
        });
      });
    },
  };
}
