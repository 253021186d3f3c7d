import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_RESULTS_SCHEMA_ID, type BenchResults } from './bench-run.js';

// runBench exits its process, so each case runs a tiny bench script in a child node process (bench-run.ts
// transpiled with the workspace's esbuild binary).
const ROOT = join(import.meta.dirname, '..', '..', '..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sarai-bench-run-'));
  execFileSync(join(ROOT, 'node_modules', '.bin', 'esbuild'), [
    join(import.meta.dirname, 'bench-run.ts'),
    '--format=esm',
    '--platform=node',
    `--outfile=${join(dir, 'bench-run.mjs')}`,
    '--log-level=warning',
  ]);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@sarai/bench-fixture' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(body: string): string {
  const file = join(dir, `bench-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    file,
    `import { spawn } from 'node:child_process';
import { runBench } from './bench-run.mjs';
runBench({ packageDir: ${JSON.stringify(dir)}, bench: process.argv[2] }, async (ctx) => { ${body} });\n`,
  );
  return file;
}

function runScript(file: string, bench: string, onStderr?: (line: string, kill: () => void) => void) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [file, bench], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(d.toString(), () => child.kill('SIGTERM'));
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const results = () => JSON.parse(readFileSync(join(dir, 'bench-results.json'), 'utf8')) as BenchResults;
const alive = (pid: number) => existsSync(`/proc/${pid}`);

describe('runBench', () => {
  it('prints only the table on stdout and records the results of each bench target', async () => {
    const a = await runScript(
      script(`ctx.log('working'); ctx.results.rate = 41; return { text: 'TABLE', results: { ratio: 1.5 } };`),
      'bench',
    );
    expect(a.code).toBe(0);
    expect(a.stdout).toBe('TABLE\n');
    expect(a.stderr).toContain('bench: working');
    const b = await runScript(script(`return { text: 'OTHER', results: { x: 1 } };`), 'bench-swap');
    expect(b.code).toBe(0);
    const doc = results();
    expect(doc.schema).toBe(BENCH_RESULTS_SCHEMA_ID);
    expect(doc.package).toBe('@sarai/bench-fixture');
    expect(doc.runs['bench']).toMatchObject({ ok: true, results: { rate: 41, ratio: 1.5 } });
    expect(doc.runs['bench-swap']).toMatchObject({ ok: true, results: { x: 1 } });
    expect(doc.runs['bench']?.loadavg.start).toHaveLength(3);
  });

  it('kills the processes it tracks and records the error when the bench throws', async () => {
    const r = await runScript(
      script(`const c = ctx.track(spawn('sleep', ['60'], { stdio: 'ignore' }));
ctx.results.pid = c.pid; ctx.results.partial = 7; throw new Error('model missing');`),
      'bench',
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('bench failed: Error: model missing');
    const run = results().runs['bench'];
    expect(run).toMatchObject({ ok: false, error: 'model missing', results: { partial: 7 } });
    expect(alive(run?.results['pid'] as number)).toBe(false);
  });

  it('cleans up on SIGTERM and exits 128 + 15', async () => {
    const r = await runScript(
      script(`const c = ctx.track(spawn('sleep', ['60'], { stdio: 'ignore' }));
ctx.results.pid = c.pid; ctx.log('ready'); await new Promise(() => {});`),
      'bench',
      (line, kill) => {
        if (line.includes('bench: ready')) kill();
      },
    );
    expect(r.code).toBe(143);
    const run = results().runs['bench'];
    expect(run).toMatchObject({ ok: false, error: 'interrupted by SIGTERM' });
    expect(alive(run?.results['pid'] as number)).toBe(false);
  });
});
