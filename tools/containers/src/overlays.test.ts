import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtDemoApp } from '../fixtures/built-fixture.js';
import { ContainersError, planContext, stageContext } from './index.js';
import { EXTRA_LIBRARIES, extraLibraries } from './base-image.mjs';

describe('sarai.image.overlays', () => {
  let app: string;
  const contexts: string[] = [];
  const withOverlays = async (overlays: unknown) => {
    const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as {
      sarai?: { image?: Record<string, unknown> };
    };
    pkg.sarai = { ...pkg.sarai, image: { ...pkg.sarai?.image, overlays } };
    await writeFile(join(app, 'package.json'), JSON.stringify(pkg));
  };

  beforeAll(async () => {
    app = await builtDemoApp();
  }, 120_000);
  afterAll(async () => {
    await rm(app, { recursive: true, force: true });
    for (const c of contexts) await rm(c, { recursive: true, force: true });
  });

  it('copies a present overlay over the staged node_modules and skips an absent one', async () => {
    await mkdir(join(app, 'local-build', 'linux-x64-x', 'Release'), { recursive: true });
    await writeFile(join(app, 'local-build', 'linux-x64-x', 'Release', 'addon.node'), 'x');
    await withOverlays([
      { from: 'local-build', to: 'node_modules/node-llama-cpp/llama/localBuilds' },
      { from: 'not-built', to: 'node_modules/elsewhere' },
    ]);
    const { contextDir, plan } = await stageContext({ packageDir: app });
    contexts.push(contextDir);
    expect(plan.overlays).toHaveLength(2);
    const staged = join(contextDir, 'app/node_modules/node-llama-cpp/llama/localBuilds/linux-x64-x/Release');
    expect(await readFile(join(staged, 'addon.node'), 'utf8')).toBe('x');
    // node-llama-cpp itself is still staged next to it
    expect(existsSync(join(contextDir, 'app/node_modules/node-llama-cpp/package.json'))).toBe(true);
    expect(existsSync(join(contextDir, 'app/node_modules/elsewhere'))).toBe(false);
  });

  it('refuses an overlay that leaves the package or app/', async () => {
    for (const bad of [
      { from: '../outside', to: 'x' },
      { from: 'local-build', to: '../../etc' },
      { from: 'local-build' },
    ]) {
      await withOverlays([bad]);
      await expect(planContext({ packageDir: app })).rejects.toSatisfy(
        (e: unknown) => e instanceof ContainersError && e.code === 'CONTAINERS_BAD_ARGS',
      );
    }
  });
});

describe('base image extra libraries', () => {
  it('finds libgomp (the OpenMP runtime of the local llama.cpp builds) on this host', () => {
    expect(EXTRA_LIBRARIES).toContain('libgomp.so.1');
    const [gomp] = extraLibraries();
    expect(gomp).toMatch(/\/libgomp\.so\.1$/);
  });
});
