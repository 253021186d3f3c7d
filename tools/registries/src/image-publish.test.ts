import { planContext } from '@sarai/containers';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './exec.js';
import { imageRef, pushImage, splitRef, startImageRegistry, type ImageRegistry } from './image-registry.js';

// The skill-image image, built by `nx run @sarai/skill-image:image` (a dependency of this test target).
const PROJECT = '@sarai/skill-image';

let dir: string;
let registry: ImageRegistry;
const created: string[] = [];
let pushedByDigest = '';
let pushedDigest = '';
const timings: Record<string, number> = {};

describe('internal image publishing: docker-registry started locally, tag by package version, pull by digest', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-images-'));
    const t0 = performance.now();
    registry = await startImageRegistry({ dir });
    timings['registry start'] = Math.round(performance.now() - t0);
  });

  afterAll(async () => {
    // Only the references this test created; the local sarai/* images stay.
    for (const ref of created) await run('docker', ['rmi', ref]).catch(() => undefined);
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`image publishing timings (ms): ${JSON.stringify(timings)}`);
  });

  it('pushes the image tagged by its package version and pulls exactly it back by digest', async () => {
    const plan = await planContext({ packageName: PROJECT });
    const [repository, tag] = splitRef(plan.tag);
    expect(tag).toBe(plan.version);
    const { stdout: localId } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', plan.tag]);

    let t0 = performance.now();
    const pushed = await pushImage(plan.tag, registry.host);
    timings['push'] = Math.round(performance.now() - t0);
    created.push(pushed.ref);
    expect(pushed.ref).toBe(imageRef(registry.host, repository, plan.version));
    expect(await registry.catalog()).toContain(repository);
    expect(await registry.tags(repository)).toEqual([plan.version]);

    // Pull by digest into a clean slate: drop the pushed tag first so the pull really comes from the registry.
    await run('docker', ['rmi', pushed.ref]);
    created.pop();
    t0 = performance.now();
    await run('docker', ['pull', pushed.byDigest]);
    timings['pull by digest'] = Math.round(performance.now() - t0);
    created.push(pushed.byDigest);
    pushedByDigest = pushed.byDigest;
    pushedDigest = pushed.digest;
    const { stdout: pulledId } = await run('docker', [
      'image',
      'inspect',
      '--format',
      '{{.Id}}',
      pushed.byDigest,
    ]);
    expect(pulledId.trim()).toBe(localId.trim());
    const { stdout: digests } = await run('docker', [
      'image',
      'inspect',
      '--format',
      '{{json .RepoDigests}}',
      pushed.byDigest,
    ]);
    expect(JSON.parse(digests)).toContain(pushed.byDigest);
    // The registry serves that manifest under that digest (content-addressed).
    const manifest = await fetch(`http://${registry.host}/v2/${repository}/manifests/${pushed.digest}`, {
      method: 'HEAD',
      headers: {
        accept:
          'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
      },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(pushed.digest);
  });

  it('the push CLI used by CI pushes an affected project and prints its digest', async () => {
    const { WORKSPACE_ROOT } = await import('./affected.js');
    const { stdout } = await run(
      process.execPath,
      [
        join(WORKSPACE_ROOT, 'tools', 'registries', 'dist', 'push-images-cli.js'),
        '--registry',
        `${registry.host}/ci`,
        PROJECT,
      ],
      { cwd: WORKSPACE_ROOT },
    );
    const line = JSON.parse(stdout.trim()) as {
      project: string;
      ref: string;
      digest: string;
      version: string;
    };
    created.push(line.ref);
    expect(line.project).toBe(PROJECT);
    expect(line.ref).toBe(`${registry.host}/ci/sarai/skill-image:${line.version}`);
    expect(line.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await registry.tags('ci/sarai/skill-image')).toEqual([line.version]);
  });

  it('the compose deployment takes every image from the registry (SARAI_IMAGE_PREFIX) and pulls by digest', async () => {
    const { WORKSPACE_ROOT } = await import('./affected.js');
    expect(pushedByDigest).not.toBe('');
    const compose = ['-f', join(WORKSPACE_ROOT, 'apps', 'deploy', 'docker-compose.yml')];
    const env = {
      ...process.env,
      SARAI_IMAGE_PREFIX: `${registry.host}/`,
      SARAI_SKILL_IMAGE_IMAGE: `sarai/skill-image@${pushedDigest}`,
    };
    const { stdout } = await run('docker-compose', [...compose, 'config'], { env });
    const images = [...stdout.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1] as string);
    expect(images.length).toBeGreaterThan(2);
    for (const image of images) expect(image.startsWith(`${registry.host}/`), image).toBe(true);
    expect(images).toContain(pushedByDigest);
    await run('docker-compose', [...compose, 'pull', 'skill-image'], { env, timeoutMs: 120_000 });
  });

  it('refuses to start without the docker-registry binary, saying how to install it', async () => {
    await expect(startImageRegistry({ dir, bin: join(dir, 'no-such-docker-registry') })).rejects.toThrow(
      /apt-get install docker-registry/,
    );
  });

  it('builds references with or without a registry prefix', () => {
    expect(splitRef('127.0.0.1:5000/sarai/x')).toEqual(['127.0.0.1:5000/sarai/x', 'latest']);
    expect(splitRef('127.0.0.1:5000/sarai/x:1.0.0')).toEqual(['127.0.0.1:5000/sarai/x', '1.0.0']);
    expect(imageRef('reg.example.com:5000/', 'sarai/x', '1.0.0')).toBe('reg.example.com:5000/sarai/x:1.0.0');
    expect(imageRef('', 'sarai/x', '1.0.0')).toBe('sarai/x:1.0.0');
  });
});
