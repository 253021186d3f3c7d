import { spawn } from 'node:child_process';
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The real binary with the embedded skills (draft stand-in model, image, sandbox as local processes).
const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
let cwd: string;

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'sarai-validate-'));
});
afterAll(() => rm(cwd, { recursive: true, force: true }));

/** PIDs whose parent is `ppid` and whose command line contains `needle` (Linux /proc). */
async function childrenOf(ppid: number, needle?: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = await readFile(`/proc/${d}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== ppid) continue;
      if (needle && !(await readFile(`/proc/${d}/cmdline`, 'utf8')).includes(needle)) continue;
      out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

const codeTask = (id: string) => ({
  id,
  prompt: 'Write a JavaScript function add(a, b) that returns the sum. Code only.',
  check: {
    type: 'code',
    function: 'add',
    tests: [
      { args: [1, 2], expected: 3 },
      { args: [20, 22], expected: 42 },
    ],
  },
});

describe('validate-autocorrection --embedded with code checks', () => {
  it('runs them in the embedded sandbox (saying it is weaker than the container); killing the sandbox mid-run gives unavailable checks, no crash', async () => {
    const dataset = join(cwd, 'code-tasks.json');
    await writeFile(dataset, JSON.stringify({ tasks: ['c1', 'c2', 'c3', 'c4'].map(codeTask) }));
    const child = spawn(
      process.execPath,
      [
        main,
        'validate-autocorrection',
        '--embedded',
        '--dataset',
        dataset,
        '--iterations',
        '2',
        '--max-tokens',
        '16',
        '--deadline',
        '120000',
        '--json',
      ],
      { cwd, env: { ...process.env, LOG_LEVEL: 'error', SARAI_STATE_DIR: join(cwd, 'state') } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    // Wait until the embedded sandbox has started a child for a check, then kill the sandbox (SIGKILL).
    let killed = false;
    const deadline = Date.now() + 150_000;
    while (!killed && Date.now() < deadline && child.exitCode === null) {
      const [sandbox] = await childrenOf(child.pid ?? -1, 'skill-sandbox');
      // a check's child runs node with the permission model (the start-up network probe does not)
      if (sandbox !== undefined && (await childrenOf(sandbox, 'permission')).length > 0) {
        process.kill(sandbox, 'SIGKILL');
        killed = true;
      } else await new Promise((r) => setTimeout(r, 20));
    }
    const code = await exited;
    expect(killed).toBe(true);
    expect(stderr).toMatch(/weaker than the container/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as {
      tasks: number;
      unavailable: number;
      rows: Array<{ id: string; unavailable?: boolean }>;
    };
    expect(report.tasks, stdout + stderr).toBe(4);
    expect(report.unavailable, `${stdout}\n${stderr}`).toBeGreaterThanOrEqual(1);
    expect(report.rows.filter((r) => r.unavailable).length).toBe(report.unavailable);
  });
});
