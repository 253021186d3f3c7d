import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtDemoApp } from '../fixtures/built-fixture.js';
import { ContainersError, planContext, stageContext, type ContextPlan } from './index.js';

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('planContext / stageContext', () => {
  let app: string;
  let plan: ContextPlan;
  let contextDir: string;

  beforeAll(async () => {
    app = await builtDemoApp();
    plan = await planContext({ packageDir: app });
    ({ contextDir } = await stageContext({ packageDir: app }));
  }, 120_000);

  afterAll(async () => {
    await rm(app, { recursive: true, force: true });
    if (contextDir) await rm(contextDir, { recursive: true, force: true });
  });

  it('follows dependencies, installed optional platform packages and workspace packages', () => {
    const names = new Set(plan.packages.map((p) => p.name));
    for (const name of [
      'sharp',
      '@img/sharp-linux-x64',
      '@img/sharp-libvips-linux-x64',
      'node-llama-cpp',
      '@node-llama-cpp/linux-x64',
      '@sarai/testkit',
      'testcontainers', // a dependency of the workspace package
      'dockerode', // ... and of its dependency
    ]) {
      expect(names.has(name), name).toBe(true);
    }
    expect(plan.packages.find((p) => p.name === '@sarai/testkit')).toMatchObject({
      workspace: true,
      dest: 'app/node_modules/@sarai/testkit',
    });
    expect(plan.packages.find((p) => p.name === 'sharp')).toMatchObject({
      workspace: false,
      dest: 'app/node_modules/sharp',
    });
    expect(plan.tag).toBe('sarai-test/demo-app:1.2.3');
    expect(plan.extraFiles).toEqual(['healthcheck.mjs']);
  });

  it('leaves out dev dependencies, CUDA/Vulkan and other-platform packages', () => {
    const names = new Set(plan.packages.map((p) => p.name));
    for (const name of [
      'vitest',
      'typescript',
      '@node-llama-cpp/linux-x64-cuda',
      '@node-llama-cpp/linux-x64-cuda-ext',
      '@node-llama-cpp/linux-x64-vulkan',
      '@node-llama-cpp/linux-arm64',
      '@node-llama-cpp/mac-arm64-metal',
      '@img/sharp-linuxmusl-x64',
    ]) {
      expect(names.has(name), name).toBe(false);
    }
    const excluded = new Set(plan.excluded.map((e) => e.name));
    for (const name of [
      '@node-llama-cpp/linux-x64-cuda',
      '@node-llama-cpp/linux-x64-cuda-ext',
      '@node-llama-cpp/linux-x64-vulkan',
    ]) {
      expect(excluded.has(name), name).toBe(true);
      // they are installed in the workspace, so leaving them out is the stager's doing, not npm's
      expect(existsSync(join(plan.workspaceRoot, 'node_modules', name))).toBe(true);
    }
  });

  it('stages app/ with package.json, dist, extra files and only the closure in node_modules', async () => {
    expect((await readdir(join(contextDir, 'app'))).sort()).toEqual([
      'dist',
      'healthcheck.mjs',
      'node_modules',
      'package.json',
    ]);
    expect(await readdir(join(contextDir, 'app/node_modules/@node-llama-cpp'))).toEqual(['linux-x64']);
    expect(
      existsSync(
        join(contextDir, 'app/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node'),
      ),
    ).toBe(true);
    expect(existsSync(join(contextDir, 'app/node_modules/node-llama-cpp/llama/gitRelease.bundle'))).toBe(
      false,
    );
    expect(
      existsSync(join(contextDir, 'app/node_modules/node-llama-cpp/llama/binariesGithubRelease.json')),
    ).toBe(true);
    expect(existsSync(join(contextDir, 'app/node_modules/vitest'))).toBe(false);
    // the workspace package ships as built: package.json + dist, no sources
    expect((await readdir(join(contextDir, 'app/node_modules/@sarai/testkit'))).sort()).toEqual([
      'dist',
      'package.json',
    ]);
    const files = await filesUnder(join(contextDir, 'app/node_modules'));
    expect(files.filter((f) => /\.(md|markdown)$/i.test(f) || /\.d\.[cm]?ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  it('stages a closure that loads: the app runs from the context with host node', async () => {
    const run = promisify(execFile);
    const script =
      "const s = await import('sharp'); const l = await import('node-llama-cpp'); const t = await import('@sarai/testkit'); " +
      'console.log(typeof s.default, typeof l.getLlama, t.resolveHardening().user)';
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(contextDir, 'app'),
    });
    expect(stdout.trim()).toBe('function function 1000:1000');
  });

  it('fails clearly for an unknown package and for a dependency that is not installed', async () => {
    await expect(planContext({ packageName: '@sarai/does-not-exist' })).rejects.toMatchObject({
      code: 'CONTAINERS_PACKAGE_NOT_FOUND',
    });
    const broken = await builtDemoApp();
    try {
      const pkgPath = join(broken, 'package.json');
      const pkg = JSON.parse(await readFile(pkgPath, 'utf8'));
      pkg.dependencies['left-pad-not-installed'] = '1.0.0';
      await writeFile(pkgPath, JSON.stringify(pkg));
      const error = await planContext({ packageDir: broken }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContainersError);
      expect(error).toMatchObject({ code: 'CONTAINERS_DEP_NOT_INSTALLED' });
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
