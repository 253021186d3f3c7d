#!/usr/bin/env node
// sarai-reliability crash [--points N] [--writer NAME] [--seed S] | fuzz [--cases N] [--seed S]
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { composeSoakTable, slopeWithinNoise, soakCompose } from './compose/soak-compose.js';
import { runCrashPoints, type CrashReport } from './crash/harness.js';
import { CRASH_WRITERS, loadWriter } from './crash/writers.js';
import { fuzzAll } from './fuzz/fuzz.js';
import { hostileAll } from './hostile/hostile.js';
import { soak } from './soak/soak.js';
import { chaosLoops } from './chaos/chaos.js';
import { tinyDraftModel } from './fuzz/model.js';

function table(rows: CrashReport[]): string {
  const head =
    '| writer | kill points survived | killed mid-write | acknowledged | lost | torn tails injected | checks |';
  const sep = '| --- | --- | --- | --- | --- | --- | --- |';
  const body = rows.map(
    (r) =>
      `| ${r.writer} | ${r.points} | ${r.killedMidWrite} | ${r.acknowledged} | ${r.lost} | ${r.tornInjected} | ${Object.entries(
        r.notes,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} |`,
  );
  return [head, sep, ...body].join('\n');
}

async function crash(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { points: { type: 'string' }, writer: { type: 'string' }, seed: { type: 'string' } },
  });
  const points = Number(values.points ?? 200);
  const names = values.writer ? [values.writer] : CRASH_WRITERS;
  if (!Number.isInteger(points) || points < 1 || names.some((n) => !CRASH_WRITERS.includes(n))) {
    process.stderr.write(`usage: crash [--points N] [--writer ${CRASH_WRITERS.join('|')}]\n`);
    return 2;
  }
  const rows: CrashReport[] = [];
  for (const name of names) {
    const w = await loadWriter(name);
    if (!w) continue;
    const t0 = Date.now();
    const r = await runCrashPoints(w, { points, seed: Number(values.seed ?? 15) });
    process.stdout.write(
      `${w.name}: ${r.points} kill points survived in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
    );
    rows.push(r);
  }
  process.stdout.write(`\n${table(rows)}\n`);
  return 0;
}

async function fuzz(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { cases: { type: 'string' }, seed: { type: 'string' } } });
  const cases = Number(values.cases ?? 10_000);
  const reports = await fuzzAll({
    cases,
    draftModel: await tinyDraftModel(),
    seed: Number(values.seed ?? 15),
    onReport: (r) =>
      process.stdout.write(
        `${r.contract}: ${r.cases} cases in ${r.seconds} s, ${JSON.stringify(r.outcomes)}; forbidden ${r.forbiddenCount}, crashes ${r.crashes.length}; RSS MiB ${JSON.stringify(r.rssBeforeMb)} -> ${JSON.stringify(r.rssAfterMb)}\n`,
      ),
  });
  const bad = reports.filter((r) => r.forbiddenCount > 0 || r.crashes.length > 0);
  process.stdout.write(
    `\n| contract | cases | crashes | INTERNAL/UNKNOWN | statuses | RSS before → after (MiB) |\n| --- | --- | --- | --- | --- | --- |\n${reports
      .map(
        (r) =>
          `| ${r.contract} | ${r.cases} | ${r.crashes.length} | ${r.forbiddenCount} | ${Object.entries(
            r.outcomes,
          )
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')} | ${Object.keys(r.rssBeforeMb)
            .map((k) => `${k} ${r.rssBeforeMb[k]} → ${r.rssAfterMb[k]}`)
            .join(', ')} |`,
      )
      .join('\n')}\n`,
  );
  for (const r of bad)
    process.stdout.write(`${r.contract}: ${[...r.forbidden, ...r.crashes].join('\n  ')}\n`);
  return bad.length === 0 ? 0 : 1;
}

async function hostile(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      rounds: { type: 'string' },
      'draft-model': { type: 'string' },
      skill: { type: 'string', multiple: true },
    },
  });
  const reports = await hostileAll({
    rounds: Number(values.rounds ?? 5),
    draftModel: values['draft-model'] ?? (await tinyDraftModel()),
    ...(values.skill ? { only: values.skill } : {}),
  });
  process.stdout.write(
    `| skill | hostile inputs (× rounds) | statuses | RSS steady | RSS after each round | peak RSS (VmHWM) | alive |\n| --- | --- | --- | --- | --- | --- | --- |\n${reports
      .map(
        (r) =>
          `| ${r.skill} | ${r.inputs.length} × ${r.sent / r.inputs.length}: ${r.inputs.join('; ')} | ${Object.entries(
            r.outcomes,
          )
            .map(([k, n]) => `${k} ${n}`)
            .join(
              ', ',
            )} | ${r.steadyMb} MiB | ${r.afterRoundsMb.join(', ')} MiB | ${r.peakMb} MiB | ${r.alive} (${r.seconds} s) |`,
      )
      .join('\n')}\n`,
  );
  return reports.every((r) => r.alive) ? 0 : 1;
}

async function soakCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string' },
      clients: { type: 'string' },
      'draft-model': { type: 'string' },
      compose: { type: 'boolean' },
      json: { type: 'string' },
      'sample-seconds': { type: 'string' },
    },
  });
  const seconds = Number(values.seconds ?? 1200);
  if (values.compose) {
    const r = await soakCompose({
      seconds,
      clients: Number(values.clients ?? 2),
      sampleSeconds: Number(values['sample-seconds'] ?? 5),
      say: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`\n${composeSoakTable(r)}\n`);
    const out = values.json ?? 'soak-results.json';
    await writeFile(out, `${JSON.stringify(r, null, 2)}\n`);
    process.stdout.write(`results: ${out}\n`);
    for (const s of r.services)
      for (const f of s.failureSamples) process.stdout.write(`${s.service} failure: ${f}\n`);
    // a full soak's memory must be within noise or take a day or more to reach the limit (slopeWithinNoise)
    return r.services.every(
      (s) => s.failures === 0 && s.end.running && s.end.health === 'healthy' && slopeWithinNoise(s, 24),
    )
      ? 0
      : 1;
  }
  const reports = await soak({
    seconds,
    clients: Number(values.clients ?? 2),
    draftModel: values['draft-model'] ?? (await tinyDraftModel()),
  });
  process.stdout.write(
    `soak: ${seconds} s of mixed traffic\n| service | requests | errors | throughput /s | p50 ms | p99 ms | RSS start → end MiB | RSS slope (2nd half) MiB/min |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n${reports
      .map(
        (r) =>
          `| ${r.service} | ${r.requests} | ${r.errors} | ${r.throughputPerS} | ${r.p50Ms} | ${r.p99Ms} | ${r.rssStartMb} → ${r.rssEndMb} | ${r.rssSlopeMbPerMin} |`,
      )
      .join('\n')}\n`,
  );
  return 0;
}

async function chaos(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { loops: { type: 'string' } } });
  const r = await chaosLoops({ loops: Number(values.loops ?? 100), draftModel: await tinyDraftModel() });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  const ok =
    r.answered === r.loops &&
    r.auditOk &&
    r.auditRecords === r.signedPrompts &&
    r.interactionRecords === r.loops;
  return ok ? 0 : 1;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  crash,
  fuzz,
  hostile,
  soak: soakCommand,
  chaos,
};
const [command, ...rest] = process.argv.slice(2);
const run =
  command && COMMANDS[command]
    ? (COMMANDS[command] as (a: string[]) => Promise<number>)(rest)
    : Promise.resolve(-1);
run.then(
  (code) => {
    if (code === -1) {
      process.stderr.write(
        'usage: sarai-reliability crash [--points N] [--writer NAME] | fuzz [--cases N]\n',
      );
      process.exitCode = 2;
    } else process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`sarai-reliability: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
