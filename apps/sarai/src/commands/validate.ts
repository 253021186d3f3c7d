import { poolSandbox, runCheckers, type CodeSandbox, type CheckResult } from '@sarai/loop-core';
import { SingleBar, Presets } from 'cli-progress';
import { int, parse } from '../args.js';
import { loadDataset } from '../dataset.js';
import { usageError } from '../errors.js';
import type { Io } from '../io.js';
import { openSession, type Session } from '../session.js';

export interface AutocorrectionReport {
  tasks: number;
  firstRight: number;
  finalRight: number;
  wrongToRight: number;
  rightToWrong: number;
  /** (wrong→right − right→wrong) ÷ first drafts that were wrong. The seed's KPI is ≥ 68%. */
  netAutocorrectionRate: number;
  fallbackRuns: number;
  /** Tasks whose first or final answer could not be checked (e.g. the code sandbox was down): not in the rates. */
  unavailable: number;
  rows: Array<{
    id: string;
    first: boolean;
    final: boolean;
    iterations: number;
    source: string;
    /** The check could not be made (sandbox down or slow); the row is left out of the counts. */
    unavailable?: boolean;
  }>;
}

export async function validateAutocorrection(args: string[], io: Io): Promise<number> {
  const { values } = parse(
    args,
    {
      dataset: { type: 'string' },
      embedded: { type: 'boolean' },
      iterations: { type: 'string' },
      'max-tokens': { type: 'string' },
      deadline: { type: 'string' },
      json: { type: 'boolean' },
    },
    0,
  );
  const maxTokens = int(values['max-tokens'], 'max-tokens', 1, 4096) ?? 128;
  const deadline = int(values.deadline, 'deadline', 100, Number.MAX_SAFE_INTEGER);
  const iterations = values.iterations === undefined ? 3 : Number(values.iterations);
  if (![2, 3].includes(iterations))
    throw usageError('--iterations must be 2 or 3 (one draft plus at least one reflection)');
  // Code checks go to the sandbox skill through the session's pool (opened after the dataset is validated).
  const opened: { session?: Session } = {};
  const sandbox: CodeSandbox = {
    runTests: (req, deadlineMs) => {
      if (!opened.session) throw new Error('the session is not open yet');
      return poolSandbox(opened.session.pool).runTests(req, deadlineMs);
    },
  };
  const tasks = await loadDataset(sandbox, values.dataset ? String(values.dataset) : undefined);
  const session = await openSession(io, {
    embedded: Boolean(values.embedded),
    iterations,
    maxTokens,
    ...(deadline !== undefined ? { draftDeadlineMs: deadline } : {}),
    say: (t) => io.stderr(t),
  });
  opened.session = session;
  const bar =
    io.isTTY && !values.json
      ? new SingleBar({ format: 'validate {bar} {value}/{total} tasks | {id}' }, Presets.shades_classic)
      : undefined;
  const report: AutocorrectionReport = {
    tasks: tasks.length,
    firstRight: 0,
    finalRight: 0,
    wrongToRight: 0,
    rightToWrong: 0,
    netAutocorrectionRate: 0,
    fallbackRuns: 0,
    unavailable: 0,
    rows: [],
  };
  try {
    bar?.start(tasks.length, 0, { id: '' });
    for (const task of tasks) {
      const r = await session.loop.run(task.prompt, { checkers: [task.checker] });
      // judge first and final answers with the task's checker (also when the loop stopped at iteration 1)
      const [first] = await runCheckers([task.checker], r.iterations[0]?.response ?? '', {
        prompt: task.prompt,
      });
      const [final] = await runCheckers([task.checker], r.text, { prompt: task.prompt });
      const f0 = Boolean(first?.pass);
      const f1 = Boolean(final?.pass);
      report.fallbackRuns += Number(r.fallbackUsed);
      // a check that could not run (sandbox down or slow) judges nothing: the task is left out of the counts
      const unavailable = isUnavailable(first) || isUnavailable(final);
      report.rows.push({
        id: task.id,
        first: f0,
        final: f1,
        iterations: r.iterations.length,
        source: r.iterations.map((i) => i.source[0]).join(''),
        ...(unavailable ? { unavailable } : {}),
      });
      if (unavailable) report.unavailable += 1;
      else {
        report.firstRight += Number(f0);
        report.finalRight += Number(f1);
        report.wrongToRight += Number(!f0 && f1);
        report.rightToWrong += Number(f0 && !f1);
      }
      bar?.increment(1, { id: task.id });
    }
  } finally {
    bar?.stop();
    await session.close();
  }
  const wrongFirst = report.tasks - report.unavailable - report.firstRight;
  report.netAutocorrectionRate =
    wrongFirst === 0 ? 0 : (report.wrongToRight - report.rightToWrong) / wrongFirst;
  if (values.json) {
    io.stdout(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  for (const row of report.rows) {
    io.stdout(
      row.unavailable
        ? `${row.id.padEnd(20)} unavailable: the check could not run (code sandbox down or slow)  (${row.iterations} it, ${row.source})\n`
        : `${row.id.padEnd(20)} first ${row.first ? 'right' : 'wrong'} → final ${row.final ? 'right' : 'wrong'}  (${row.iterations} it, ${row.source})\n`,
    );
  }
  io.stdout(
    `\ntasks ${report.tasks}: first drafts right ${report.firstRight}, final right ${report.finalRight}\n` +
      `wrong→right ${report.wrongToRight}, right→wrong ${report.rightToWrong}\n` +
      `net auto-correction rate ${(report.netAutocorrectionRate * 100).toFixed(1)}% of wrong first drafts (seed target ≥ 68%)\n` +
      (report.fallbackRuns ? `${report.fallbackRuns} run(s) used the local fallback\n` : '') +
      (report.unavailable
        ? `${report.unavailable} task(s) unavailable (their check could not run; left out of the rates)\n`
        : ''),
  );
  if (session.deployment.standIn)
    io.stdout('note: stand-in model (random weights): these rates say nothing about a real model.\n');
  return 0;
}

function isUnavailable(c: CheckResult | undefined): boolean {
  return c?.unavailable === true;
}
