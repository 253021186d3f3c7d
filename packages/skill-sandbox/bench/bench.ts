// The price of isolation: RunTests through the sandbox vs the removed in-process worker, same honest request, same
// process, sequential calls. Prints p50/p99 and ratios against the worker baseline. Goal: sandbox p50 ≤ 100 ms.
//   npx nx run @sarai/skill-sandbox:bench          (BENCH_N=60; the container row needs the image + Docker)
import { connectSandbox, Language, type RunTestsRequest } from '@sarai/sandbox-contract';
import { runBench, type BenchContext } from '@sarai/formats';
import { startSkill } from '@sarai/skill-runtime';
import { hardenedRunArgs } from '@sarai/testkit';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeNetIsolation, runTests, sandboxSkill } from '../src/index.js';
import { runInProcessWorker } from './in-process-worker.js';

const PKG = fileURLToPath(new URL('../../../', import.meta.url)); // packages/skill-sandbox (from out-tsc/bench/bench)
const N = Number(process.env['BENCH_N'] ?? 60);
const code = 'function add(a, b) { return a + b; }';
const tests = [
  { args: [1, 2], expected: 3 },
  { args: [20, 22], expected: 42 },
  { args: [-1, 1], expected: 0 },
];
const wire: RunTestsRequest = {
  code,
  language: Language.JAVASCRIPT,
  functionName: 'add',
  tests: tests.map((t) => ({ argsJson: JSON.stringify(t.args), expectedJson: JSON.stringify(t.expected) })),
};

async function measure(
  name: string,
  fn: () => Promise<void>,
): Promise<{ name: string; p50: number; p99: number }> {
  for (let i = 0; i < 3; i++) await fn(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)] ?? 0;
  return { name, p50: q(0.5), p99: q(0.99) };
}

const must = (ok: boolean, what: string) => {
  if (!ok) throw new Error(`bench: ${what} did not pass its tests`);
};

async function main(ctx: BenchContext): Promise<{ text: string }> {
  const rows: Array<{ name: string; p50: number; p99: number }> = [];
  rows.push(
    await measure('in-process worker (removed, baseline)', async () =>
      must((await runInProcessWorker(code, 'add', tests)) === tests.length, 'worker'),
    ),
  );
  rows.push(
    await measure('runner only (fresh child, no gRPC)', async () =>
      must(
        (await runTests({ code, language: 'javascript', functionName: 'add', tests })).tests.every(
          (t) => t.passed,
        ),
        'runner',
      ),
    ),
  );
  const iso = await probeNetIsolation(process.execPath);
  if ('unshare' in iso)
    rows.push(
      await measure('runner + own network namespace (embedded mode)', async () =>
        must(
          (
            await runTests({ code, language: 'javascript', functionName: 'add', tests }, { netns: iso })
          ).tests.every((t) => t.passed),
          'runner+netns',
        ),
      ),
    );
  const skill = await startSkill(sandboxSkill);
  let skillUp = true;
  ctx.onCleanup(() => (skillUp ? skill.shutdown() : undefined));
  const conn = connectSandbox(`127.0.0.1:${skill.port}`);
  rows.push(
    await measure('sandbox skill over gRPC (loopback, embedded)', async () =>
      must(
        (await conn.client.runTests(wire)).response.results.every((r) => r.passed),
        'skill',
      ),
    ),
  );
  conn.close();
  skillUp = false;
  await skill.shutdown();

  // The real hardened image, network none, over its unix socket (skipped without Docker or the image).
  const image = process.env['SKILL_SANDBOX_TAG'] ?? 'sarai/skill-sandbox:latest';
  let containerNote = '';
  try {
    execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
    const dir = await mkdtemp(join(tmpdir(), 'sbx-bench-'));
    ctx.onCleanup(() => rm(dir, { recursive: true, force: true }));
    if (process.getuid?.() === 0) await chown(dir, 1000, 1000);
    const name = `sarai-sandbox-bench-${process.pid}`;
    ctx.trackContainer(name);
    const id = execFileSync('docker', [
      'run',
      '-d',
      '--rm',
      '--name',
      name,
      ...hardenedRunArgs({ cpus: 1, memoryMiB: 512, pidsLimit: 64, networkNone: true }),
      '-v',
      `${dir}:/run/sarai`,
      image,
    ])
      .toString()
      .trim();
    try {
      const sock = join(dir, 'sandbox.sock');
      for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      const c = connectSandbox(`unix:${sock}`);
      rows.push(
        await measure('hardened container (network none, unix socket)', async () =>
          must(
            (await c.client.runTests(wire)).response.results.every((r) => r.passed),
            'container',
          ),
        ),
      );
      c.close();
    } finally {
      execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
    }
  } catch (e) {
    containerNote = `container row skipped: ${(e as Error).message.split('\n')[0]}`;
  }

  const lines: string[] = [];
  const base = rows[0] as { p50: number; p99: number };
  lines.push(`RunTests, ${tests.length} tests of add(a, b), ${N} sequential calls each (after 3 warm-up)\n`);
  lines.push('| path | p50 ms | p99 ms | p50 × worker | p99 × worker |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const r of rows)
    lines.push(
      `| ${r.name} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${(r.p50 / base.p50).toFixed(1)}× | ${(r.p99 / base.p99).toFixed(1)}× |`,
    );
  if (containerNote) lines.push(`\n${containerNote}`);
  const worst = Math.max(...rows.slice(1).map((r) => r.p50));
  lines.push(
    `\ngoal p50 ≤ 100 ms per check: ${worst <= 100 ? 'met' : 'NOT met'} (slowest isolated p50 ${worst.toFixed(1)} ms)`,
  );
  Object.assign(ctx.results, {
    calls: N,
    rows: rows.map((r) => ({ ...r, p50OverWorker: r.p50 / base.p50, p99OverWorker: r.p99 / base.p99 })),
    ...(containerNote ? { containerNote } : {}),
  });
  return { text: lines.join('\n') };
}

void runBench({ packageDir: PKG }, main);
