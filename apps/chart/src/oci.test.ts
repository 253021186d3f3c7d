import { startImageRegistry, type ImageRegistry } from '@sarai/registries';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_DIR, helm } from './helm.js';
import { parseManifests, renderChart } from './render.js';

let dir: string;
let registry: ImageRegistry;

// The chart ships through the same private registry as the images (an OCI artifact, Helm ≥ 3.8).
describe('the chart as an OCI artifact in the private registry', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-chart-oci-'));
    registry = await startImageRegistry({ dir: join(dir, 'registry') });
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is packaged, pushed, pulled back by digest and renders the same objects', async () => {
    await helm(['package', CHART_DIR, '--destination', dir]);
    const pushed = await helm([
      'push',
      join(dir, 'sarai-0.1.0.tgz'),
      `oci://${registry.host}/charts`,
      '--plain-http',
    ]);
    const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(`${pushed.stdout}\n${pushed.stderr}`)?.[1];
    expect(digest, `helm push printed no digest: ${pushed.stdout} ${pushed.stderr}`).toBeDefined();
    expect(await registry.tags('charts/sarai')).toEqual(['0.1.0']);

    const pulled = join(dir, 'pulled');
    await mkdir(pulled);
    await helm([
      'pull',
      `oci://${registry.host}/charts/sarai@${digest}`,
      '--plain-http',
      '--destination',
      pulled,
    ]);
    const [tgz] = await readdir(pulled);
    expect(tgz).toMatch(/^sarai.*\.tgz$/);
    expect((await helm(['show', 'chart', join(pulled, tgz as string)])).stdout).toMatch(
      /^version: 0\.1\.0$/m,
    );
    const fromRegistry = parseManifests(
      (await helm(['template', 'sarai', join(pulled, tgz as string), '--namespace', 'sarai'])).stdout,
    );
    expect(fromRegistry).toEqual(await renderChart());
  });
});
