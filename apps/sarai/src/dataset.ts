import {
  codeTestsChecker,
  jsonSchemaChecker,
  regexChecker,
  type Checker,
  type CodeSandbox,
} from '@sarai/loop-core';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CliError } from './errors.js';

export const BUNDLED_DATASET = fileURLToPath(new URL('../datasets/autocorrection.json', import.meta.url));

export interface Task {
  id: string;
  prompt: string;
  checker: Checker;
}

type CheckSpec =
  | { type: 'regex'; pattern: string; flags?: string; feedback?: string }
  | { type: 'json-schema'; schema: object }
  | { type: 'code'; function: string; tests: Array<{ args: unknown[]; expected: unknown }> };

function checkerOf(id: string, spec: CheckSpec, sandbox: CodeSandbox): Checker {
  switch (spec?.type) {
    case 'regex':
      return regexChecker(new RegExp(spec.pattern, spec.flags ?? ''), {
        name: `${id}: regex`,
        ...(spec.feedback ? { feedback: spec.feedback } : {}),
      });
    case 'json-schema':
      return jsonSchemaChecker(spec.schema, { name: `${id}: json-schema` });
    case 'code':
      // model-written code runs only in the sandbox skill, never in this process
      return codeTestsChecker({
        functionName: spec.function,
        tests: spec.tests,
        sandbox,
        name: `${id}: unit tests`,
      });
    default:
      throw new Error(
        `unknown check type ${JSON.stringify((spec as { type?: unknown })?.type)} (use regex, json-schema or code)`,
      );
  }
}

/**
 * Reads a task set: `{ tasks: [{ id, prompt, check: { type: regex | json-schema | code, ... } }] }`. `code` checks
 * run in `sandbox` (the sandbox skill).
 */
export async function loadDataset(sandbox: CodeSandbox, path = BUNDLED_DATASET): Promise<Task[]> {
  let data: { tasks?: Array<{ id?: unknown; prompt?: unknown; check?: CheckSpec }> };
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as typeof data;
  } catch (e) {
    throw new CliError('CLI_CONFIG', `cannot read dataset ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(data.tasks) || data.tasks.length === 0) {
    throw new CliError('CLI_CONFIG', `dataset ${path} has no "tasks" array`);
  }
  return data.tasks.map((t, i) => {
    const where = `dataset ${path}, task ${i + 1}`;
    if (typeof t.id !== 'string' || typeof t.prompt !== 'string' || !t.prompt.trim()) {
      throw new CliError('CLI_CONFIG', `${where}: needs a string "id" and a non-empty "prompt"`);
    }
    try {
      return { id: t.id, prompt: t.prompt, checker: checkerOf(t.id, t.check as CheckSpec, sandbox) };
    } catch (e) {
      throw new CliError('CLI_CONFIG', `${where} (${t.id}): ${(e as Error).message}`);
    }
  });
}
