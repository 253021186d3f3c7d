import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKSPACE_ROOT } from './affected.js';
import { run } from './exec.js';
import { workspaceConditionLeaks, type PackageManifest } from './publish-manifest.js';
import { consumerClient, consumerServer, consumerTsconfig } from './test-support/consumer.js';
import { startVerdaccio, type NpmRegistry } from './verdaccio.js';

const PACKAGES = ['@sarai/proto', '@sarai/skill-runtime'];

interface WorkspaceManifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

/** Workspace packages by name (packages/*). */
async function workspacePackages(): Promise<Map<string, WorkspaceManifest>> {
  const out = new Map<string, WorkspaceManifest>();
  for (const d of await readdir(join(WORKSPACE_ROOT, 'packages'))) {
    const text = await readFile(join(WORKSPACE_ROOT, 'packages', d, 'package.json'), 'utf8').catch(
      () => 'null',
    );
    const pkg = JSON.parse(text) as WorkspaceManifest | null;
    if (pkg?.name) out.set(pkg.name, pkg);
  }
  return out;
}

/** The packages plus every @sarai package they depend on at runtime (all must be in the registry to install). */
function closure(names: string[], all: Map<string, WorkspaceManifest>): string[] {
  const out = new Set<string>();
  const visit = (n: string) => {
    if (out.has(n)) return;
    out.add(n);
    for (const d of Object.keys(all.get(n)?.dependencies ?? {})) if (all.has(d)) visit(d);
  };
  names.forEach(visit);
  return [...out].sort();
}

let dir: string;
let registry: NpmRegistry;
let publishEnv: NodeJS.ProcessEnv;
let published: string[] = [];
const versions: Record<string, string> = {};
const timings: Record<string, number> = {};

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    timings[label] = Math.round(performance.now() - t0);
  }
}

describe('internal npm publishing: nx release publish → Verdaccio → an outside project', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-npm-'));
    registry = await timed('verdaccio start', () => startVerdaccio({ dir: join(dir, 'verdaccio') }));
    const token = await registry.addUser('ci-publisher', 'not-a-secret-test-password');
    // The publisher's npm user config holds only the registry token (the user's own ~/.npmrc is not touched).
    const userconfig = join(dir, 'publisher.npmrc');
    await writeFile(userconfig, `${registry.authKey}:_authToken=${token}\n`, { mode: 0o600 });
    publishEnv = { ...process.env, NPM_CONFIG_USERCONFIG: userconfig };
    const all = await workspacePackages();
    published = closure(PACKAGES, all);
    for (const n of published) versions[n] = (all.get(n) as WorkspaceManifest).version;
    const nx = join(WORKSPACE_ROOT, 'node_modules', '.bin', 'nx');
    const nxEnv = { ...publishEnv, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
    // `nx release publish --projects` skips task dependencies, so the staging (clean manifests) runs first;
    // an unfiltered `nx release publish` stages through nx-release-publish's dependsOn.
    await timed('stage-publish', () =>
      run(nx, ['run-many', '-t', 'stage-publish', '-p', ...published, '--outputStyle=static'], {
        cwd: WORKSPACE_ROOT,
        env: nxEnv,
        timeoutMs: 240_000,
      }),
    );
    await timed('nx release publish', () =>
      run(
        nx,
        [
          'release',
          'publish',
          `--projects=${published.join(',')}`,
          `--registry=${registry.url}`,
          '--outputStyle=static',
        ],
        { cwd: WORKSPACE_ROOT, env: nxEnv, timeoutMs: 240_000 },
      ),
    );
  });

  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`npm publishing timings (ms): ${JSON.stringify(timings)}`);
  });

  it('published the packages and their @sarai dependencies with clean manifests', async () => {
    expect(published).toEqual(expect.arrayContaining(PACKAGES));
    for (const name of published) {
      const res = await fetch(`${registry.url}${name.replace('/', '%2f')}`);
      expect(res.status, `${name} is not in the registry`).toBe(200);
      const packument = (await res.json()) as {
        versions: Record<string, PackageManifest & { dist: { tarball: string } }>;
      };
      const manifest = packument.versions[versions[name] as string];
      expect(manifest, `${name}@${versions[name]} was not published`).toBeDefined();
      expect(workspaceConditionLeaks(manifest as PackageManifest)).toEqual([]);
      expect(JSON.stringify(manifest?.exports)).not.toContain('src/');
    }
  });

  it('the published tarballs have correct types for ESM consumers (@arethetypeswrong/cli, esm-only profile)', async () => {
    for (const name of PACKAGES) {
      const { stdout: packed } = await run(
        'npm',
        ['pack', `${name}@${versions[name]}`, '--json', '--pack-destination', dir],
        {
          cwd: dir,
          env: { ...process.env, [`npm_config_${name.split('/')[0]}:registry`]: registry.url },
        },
      );
      const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
      const attw = join(WORKSPACE_ROOT, 'node_modules', '.bin', 'attw');
      const { stdout } = await timed(`attw ${name}`, () =>
        run(attw, [
          join(dir, filename),
          '--profile',
          'esm-only',
          '--no-definitely-typed',
          '--format',
          'json',
        ]),
      );
      const report = JSON.parse(stdout) as {
        analysis: { problems: Array<{ kind: string; entrypoint: string; resolutionKind: string }> };
      };
      // esm-only: CommonJS and node10 resolution are out of scope (the packages are ESM-only by design).
      const relevant = report.analysis.problems.filter(
        (p) => !['node10', 'node16-cjs'].includes(p.resolutionKind),
      );
      expect(relevant, `${name}: ${JSON.stringify(relevant)}`).toEqual([]);
    }
  });

  it('an empty project outside the workspace installs them, builds a skill with tsc and reaches it over gRPC', async () => {
    const app = join(dir, 'consumer');
    await mkdir(join(app, 'src'), { recursive: true });
    expect((await realpath(app)).startsWith(WORKSPACE_ROOT)).toBe(false);
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'sarai-consumer', private: true, type: 'module' }),
    );
    // Only the @sarai scope comes from the private registry; everything else from the usual one.
    await writeFile(join(app, '.npmrc'), `@sarai:registry=${registry.url}\n`);
    const typesNode = (
      JSON.parse(
        await readFile(join(WORKSPACE_ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8'),
      ) as {
        version: string;
      }
    ).version;
    await timed('consumer npm install', () =>
      run(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          ...PACKAGES.map((n) => `${n}@${versions[n]}`),
          `@types/node@${typesNode}`,
        ],
        { cwd: app, timeoutMs: 240_000 },
      ),
    );
    const installed = JSON.parse(
      await readFile(join(app, 'node_modules', '@sarai', 'skill-runtime', 'package.json'), 'utf8'),
    ) as PackageManifest;
    expect(installed.version).toBe(versions['@sarai/skill-runtime']);
    expect(workspaceConditionLeaks(installed)).toEqual([]);
    expect(await realpath(join(app, 'node_modules', '@sarai', 'proto'))).toBe(
      join(await realpath(app), 'node_modules', '@sarai', 'proto'),
    );

    await writeFile(join(app, 'tsconfig.json'), JSON.stringify(consumerTsconfig, null, 2));
    await writeFile(join(app, 'src', 'server.ts'), consumerServer);
    await writeFile(join(app, 'src', 'client.ts'), consumerClient);
    const tsc = join(WORKSPACE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await timed('consumer tsc', () => run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }));

    const server = spawn(process.execPath, ['dist/server.js'], {
      cwd: app,
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    server.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const firstLine = await new Promise<string>((resolve, reject) => {
        createInterface({ input: server.stdout }).once('line', resolve);
        server.once('exit', (code) => reject(new Error(`consumer skill exited (${code}): ${stderr}`)));
      });
      const { port } = JSON.parse(firstLine) as { port: number };
      const { stdout } = await run(process.execPath, ['dist/client.js', String(port)], { cwd: app });
      expect(JSON.parse(stdout)).toEqual({ serving: true, text: 'HELLO FROM OUTSIDE', model: 'echo' });
    } finally {
      const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
      server.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
