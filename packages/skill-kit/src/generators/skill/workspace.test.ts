// Done-when of the skill platform, end to end in a scratch copy of this workspace: `nx g` one skill of each kind,
// then there `nx run-many -t build typecheck lint test` passes for the new projects (hardened-container tests
// included), `nx show projects --affected` lists the new skill and only the registry's consumers, and a SkillPool built
// from the registry reaches each new skill over gRPC and sees it SERVING. Nothing outside the generated files is edited.
import { freePort } from '@sarai/formats';
import { SkillPool } from '@sarai/loop-core';
import { addressEnv, loadRegistry } from '@sarai/skill-registry';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchWorkspace, type ScratchWorkspace } from '../../test-support/scratch.js';

const WORKSPACE = fileURLToPath(new URL('../../../../../', import.meta.url));
const GEN = 'kit-gen';
const SVC = 'kit-svc';
const NEW_PROJECTS = [`@sarai/skill-${GEN}`, `@sarai/skill-${SVC}`, `@sarai/${SVC}-contract`];
const timings: Record<string, number> = {};

function timed<T>(label: string, fn: () => T): T {
  const t = performance.now();
  try {
    return fn();
  } finally {
    timings[label] = Math.round((performance.now() - t) / 100) / 10;
  }
}

describe('nx g @sarai/skill-kit:skill in a scratch copy of the workspace', () => {
  let ws: ScratchWorkspace;
  const nx = (args: string[], timeoutMs?: number) =>
    ws.run(join(ws.root, 'node_modules/.bin/nx'), args, timeoutMs ? { timeoutMs } : {});
  const procs: ChildProcess[] = [];

  beforeAll(() => {
    ws = timed('copy workspace + baseline commit', () => createScratchWorkspace(WORKSPACE));
    timed('nx g (both kinds)', () => {
      nx(['g', '@sarai/skill-kit:skill', GEN, '--no-interactive']);
      nx(['g', '@sarai/skill-kit:skill', SVC, '--kind', 'service', '--no-interactive']);
    });
    expect(ws.linkWorkspacePackages().sort()).toEqual([...NEW_PROJECTS].sort());
  });

  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
    for (const name of [GEN, SVC]) {
      for (const tag of ['0.1.0', 'latest']) {
        try {
          execFileSync('docker', ['rmi', '-f', `sarai/skill-${name}:${tag}`], { stdio: 'ignore' });
        } catch {
          // not built
        }
      }
    }
    if (process.env['SKILL_KIT_KEEP_SCRATCH']) console.log(`scratch workspace kept: ${ws?.root}`);
    else ws?.dispose();
    console.log(`skill-kit e2e timings (s): ${JSON.stringify(timings)}`);
  });

  it('changes only generated files; affected = the new projects + the registry and its consumers', () => {
    const changed = ws
      .run('git', ['status', '--porcelain', '--untracked-files=all'])
      .split('\n')
      .filter(Boolean);
    const paths = changed.map((l) => l.slice(3));
    const outside = paths.filter(
      (p) =>
        !p.startsWith(`packages/skill-${GEN}/`) &&
        !p.startsWith(`packages/skill-${SVC}/`) &&
        !p.startsWith(`packages/${SVC}-contract/`) &&
        ![
          `packages/skill-registry/skills/${GEN}.json`,
          `packages/skill-registry/skills/${SVC}.json`,
          'apps/deploy/docker-compose.yml',
          'apps/chart/sarai/values.yaml',
          'tsconfig.json',
        ].includes(p),
    );
    expect(outside).toEqual([]);

    const affected = timed('nx show projects --affected', () =>
      JSON.parse(nx(['show', 'projects', '--affected', '--base=HEAD', '--json'])),
    ) as string[];
    nx(['graph', '--file=graph.json']);
    const graph = JSON.parse(ws.run('cat', ['graph.json'])) as {
      graph: { dependencies: Record<string, { target: string }[]> };
    };
    const dependents = new Set<string>(['@sarai/skill-registry']);
    for (let grew = true; grew;) {
      grew = false;
      for (const [source, deps] of Object.entries(graph.graph.dependencies)) {
        if (!dependents.has(source) && deps.some((d) => dependents.has(d.target))) {
          dependents.add(source);
          grew = true;
        }
      }
    }
    expect(affected).toEqual(expect.arrayContaining(NEW_PROJECTS));
    expect(affected.filter((p) => !NEW_PROJECTS.includes(p) && !dependents.has(p))).toEqual([]);
  });

  it('is in sync (TS references), compose and chart follow the registry, the contract passes the proto pipeline', () => {
    timed('nx sync:check', () => nx(['sync:check']));
    ws.run(process.execPath, ['apps/deploy/scripts/compose.mjs', '--check']);
    // the chart's values follow the registry (image, limits, readiness service) for the new skills too
    ws.run(join(ws.root, 'node_modules/.bin/vitest'), [
      'run',
      '-c',
      'apps/chart/vitest.config.ts',
      'coverage.test',
    ]);
    timed('contract pipeline', () =>
      nx([
        'run-many',
        '-t',
        'check-generated',
        'proto-lint',
        'breaking',
        '-p',
        `@sarai/${SVC}-contract`,
        '--outputStyle=static',
      ]),
    );
  });

  it('builds, typechecks, lints and tests the new projects (loopback gRPC + hardened-container tests)', () => {
    const out = timed('nx run-many -t build typecheck lint test', () =>
      nx(
        [
          'run-many',
          '-t',
          'build',
          'typecheck',
          'lint',
          'test',
          '-p',
          ...NEW_PROJECTS,
          '--parallel=2',
          '--outputStyle=static',
        ],
        900_000,
      ),
    );
    expect(out).toMatch(/Successfully ran targets build, typecheck, lint, test for 3 projects/);
    expect(out).toMatch(/container\.test\.ts/);
  }, 900_000);

  it('a SkillPool built from the registry reaches each new skill over gRPC and sees it SERVING', async () => {
    const registry = loadRegistry({ dir: join(ws.root, 'packages/skill-registry/skills'), userFile: false });
    const env: Record<string, string> = {};
    for (const name of [GEN, SVC]) {
      const port = await freePort();
      env[addressEnv(name)] = `127.0.0.1:${port}`;
      procs.push(
        spawn(process.execPath, [join(ws.root, `packages/skill-${name}/dist/main.js`)], {
          env: { ...ws.env, HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: '-1', LOG_LEVEL: 'warn' },
          stdio: 'ignore',
        }),
      );
    }
    const pool = new SkillPool({ registry, env });
    try {
      for (const name of [GEN, SVC]) {
        const h = pool.get(name);
        for (let i = 0; i < 200 && h.health !== 'SERVING'; i++) await new Promise((r) => setTimeout(r, 50));
        expect(h.health, name).toBe('SERVING');
      }
      const gen = await pool.get(GEN).call(
        (skill, opts) =>
          skill.generate(
            {
              prompt: 'pool  to skill',
              maxTokens: 8,
              stop: [],
              temperature: 0,
              grammar: '',
              adapter: '',
              logprobs: false,
            },
            opts,
          ).response,
        pool.deadlineOf(GEN),
      );
      expect(gen.text).toBe('pool to skill');
      const contract = (await import(
        pathToFileURL(join(ws.root, `packages/${SVC}-contract/dist/index.js`)).href
      )) as Record<
        string,
        new (t: unknown) => {
          process(r: { text: string }, o: unknown): { response: Promise<{ text: string }> };
        }
      >;
      const Client = contract['KitSvcServiceClient'] as NonNullable<(typeof contract)[string]>;
      const svc = await pool
        .get(SVC)
        .call(
          (_, opts, transport) => new Client(transport).process({ text: 'own  contract' }, opts).response,
          pool.deadlineOf(SVC),
        );
      expect(svc.text).toBe('own contract');
    } finally {
      pool.close();
    }
  });
});
