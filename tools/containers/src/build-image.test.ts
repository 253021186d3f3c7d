import { rm } from 'node:fs/promises';
import {
  assertHardenedInside,
  ensureDockerAvailable,
  hardenedContainer,
  hardeningViolations,
  inspectContainer,
} from '@sarai/testkit';
import { Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtDemoApp } from '../fixtures/built-fixture.js';
import { buildImage, checkDockerfile, inspectImage, latestAlias, run } from './index.js';

describe('checkDockerfile', () => {
  it('accepts a shell-less Dockerfile on a swappable base', () => {
    const ok = [
      'ARG BASE_IMAGE=sarai/base:node24',
      'FROM ${BASE_IMAGE}',
      'COPY app/ /app/',
      'CMD ["dist/main.js"]',
    ].join('\n');
    expect(checkDockerfile(ok)).toEqual({ problems: [], fromImages: [] });
  });

  it('rejects what needs a registry, the network or a shell', () => {
    const bad = [
      '# syntax=docker/dockerfile:1',
      'FROM node:24-slim',
      'RUN npm ci \\',
      '  --omit=dev',
      'ADD https://example.com/x.tgz /x.tgz',
      'HEALTHCHECK CMD node healthcheck.mjs',
      'CMD node dist/main.js',
    ].join('\n');
    const { problems, fromImages } = checkDockerfile(bad);
    expect(fromImages).toEqual(['node:24-slim']);
    expect(problems).toEqual([
      'line 1: "# syntax=" makes BuildKit pull a frontend image',
      'line 3: RUN needs a shell, and the base image has none',
      'line 4: ADD of a URL needs the network',
      'line 5: shell-form HEALTHCHECK CMD needs /bin/sh; use CMD ["/usr/local/bin/node", "..."]',
      'line 6: shell-form CMD needs /bin/sh; use the exec form ["..."]',
      'no `ARG BASE_IMAGE=<default>` (keep the base swappable: FROM ${BASE_IMAGE})',
    ]);
  });
});

describe('buildImage (demo app with sharp, node-llama-cpp and a workspace dependency)', () => {
  let app: string;
  let built: Awaited<ReturnType<typeof buildImage>>;
  let hardened: ReturnType<typeof hardenedContainer>;
  let container: StartedTestContainer;
  let logs = '';

  beforeAll(async () => {
    await ensureDockerAvailable();
    app = await builtDemoApp();
    const started = performance.now();
    built = await buildImage({ packageDir: app, log: (line) => console.info(`build-image: ${line}`) });
    console.info(
      `build-image: ${built.image} in ${((performance.now() - started) / 1000).toFixed(1)} s, ${(built.sizeBytes / 1e6).toFixed(1)} MB`,
    );
    hardened = hardenedContainer(built.image, {
      memoryMiB: 512,
      networkNone: true,
      wait: Wait.forAll([Wait.forHealthCheck(), Wait.forLogMessage('DEMO_APP_REPORT')]),
    }).withLogConsumer((stream) => stream.on('data', (chunk: Buffer | string) => (logs += chunk.toString())));
    container = await hardened.start();
  }, 180_000);

  afterAll(async () => {
    await container?.stop();
    if (built) await run('docker', ['image', 'rm', built.image]); // a fixture image: leave nothing behind
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('tags and labels the image from package.json and removes the staged context', async () => {
    expect(built.image).toBe('sarai-test/demo-app:1.2.3');
    expect(built.baseImage).toBe('sarai/base:node24');
    expect(built.contextDir).toBeUndefined();
    expect((await inspectImage(built.image))?.Config.Labels).toMatchObject({
      'org.sarai.package': '@sarai-fixture/demo-app',
      'org.sarai.version': '1.2.3',
    });
  });

  it('runs hardened to healthy and uses every staged dependency under Node 24', () => {
    const line = logs.split('\n').find((l) => l.startsWith('DEMO_APP_REPORT '));
    expect(line, logs).toBeDefined();
    const report = JSON.parse((line ?? '').slice('DEMO_APP_REPORT '.length));
    expect(report).toMatchObject({
      sharp: { width: 16, height: 12 },
      llama: { gpu: false, systemInfo: true },
      workspaceDep: '1000:1000',
    });
    expect(report.node).toMatch(/^v24\./);
  });

  it('keeps its hardening (inspect and inside)', async () => {
    expect(hardeningViolations(await inspectContainer(container), hardened.hardening)).toEqual([]);
    await assertHardenedInside(container, hardened.hardening);
  });
});

describe('image tags', () => {
  it('a versioned tag also gets a stable :latest alias (the compose default); aliases do not', () => {
    expect(latestAlias('sarai/skill-draft:0.1.0')).toBe('sarai/skill-draft:latest');
    expect(latestAlias('registry.local:5000/sarai/skill-image:1.2.3-rc.1')).toBe(
      'registry.local:5000/sarai/skill-image:latest',
    );
    expect(latestAlias('sarai/lora-trainer:dev')).toBeUndefined();
    expect(latestAlias('sarai/x:latest')).toBeUndefined();
  });
});
