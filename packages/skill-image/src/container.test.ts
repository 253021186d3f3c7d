// The real image (nx run @sarai/skill-image:image), run hardened with testcontainers and a host directory as the
// cache volume, as docker-compose does with ./state/image_cache:/cache.
import { connectSkill, grpcHealthV1, type SkillConnection } from '@sarai/proto';
import {
  assertHardenedInside,
  ensureDockerAvailable,
  hardenedContainer,
  hardeningViolations,
  inspectContainer,
  requireLocalImage,
} from '@sarai/testkit';
import { execFile } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, scene } from '../bench/generator.js';
import { tempDir } from './test-support/harness.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const IMAGE = process.env['SKILL_IMAGE_TAG'] ?? `sarai/skill-image:${pkg.version}`;
const LIMITS = { memoryMiB: 512, cpus: 1 }; // the seed's limits for skill-image

describe(`container ${IMAGE}`, () => {
  let cacheDir: string;
  let hardened: ReturnType<typeof hardenedContainer>;
  let container: StartedTestContainer;
  let conn: SkillConnection;

  const connect = () => {
    conn?.close();
    conn = connectSkill(`${container.getHost()}:${container.getMappedPort(50051)}`, { timeoutMs: 30_000 });
  };
  const call = (bytes: Uint8Array, format = '') =>
    conn.skill.preprocessImage({ imageData: bytes, format, quality: 0, maxDimension: 0 }).response;

  beforeAll(async () => {
    await ensureDockerAvailable();
    await requireLocalImage(IMAGE);
    cacheDir = await tempDir('skill-image-volume-');
    // The volume must be writable by the container's user (UID 1000), as state/image_cache is on the host.
    if (process.getuid?.() === 0) await fs.chown(cacheDir, 1000, 1000);
    else await fs.chmod(cacheDir, 0o777);
    hardened = hardenedContainer(IMAGE, { ...LIMITS })
      .withBindMounts([{ source: cacheDir, target: '/cache', mode: 'rw' }])
      .withExposedPorts(50051);
    container = await hardened.start();
    connect();
  }, 120_000);

  afterAll(async () => {
    conn?.close();
    await container?.stop().catch(() => undefined);
    if (cacheDir) await fs.rm(cacheDir, { recursive: true, force: true });
  });

  it('is hardened (docker inspect and from inside); the cache volume is its only writable mount', async () => {
    const inspect = await inspectContainer(container);
    // testkit requires every mount read-only; /cache is the one the service exists to write.
    expect(hardeningViolations(inspect, hardened.hardening)).toEqual([
      `mount ${cacheDir} -> /cache is writable, expected read-only`,
    ]);
    expect(inspect.Mounts.filter((m) => m.RW).map((m) => m.Destination)).toEqual(['/cache']);
    expect(inspect.Config.Healthcheck?.Test).toEqual([
      'CMD',
      '/usr/local/bin/node',
      '/app/node_modules/@sarai/skill-runtime/dist/healthcheck.js',
    ]);
    expect(inspect.State.Health?.Status).toBe('healthy');
    await assertHardenedInside(container, hardened.hardening);
  });

  it('writes cache files on the host volume, owned by UID 1000, and serves near-duplicates from them', async () => {
    const original = await encode(scene({ family: 'photo', seed: 1, width: 800, height: 600 }), 'jpeg', 92);
    const first = await call(original);
    expect(first.cache).toBe('miss');
    const onHost = path.join(cacheDir, first.webpPath);
    const st = await fs.stat(onHost);
    expect(st.uid).toBe(1000);
    expect(st.size).toBe(Number(first.bytes));
    expect((await fs.stat(path.join(path.dirname(onHost), 'entry.json'))).uid).toBe(1000);
    expect((await sharp(await fs.readFile(onHost)).metadata()).format).toBe('webp');
    const near = await call(await sharp(original).resize(400).jpeg({ quality: 75 }).toBuffer());
    expect(near.cache).toBe('near');
    expect(near.webpPath).toBe(first.webpPath);
    const stats = await conn.skill.imageCacheStats({}).response;
    expect(stats).toMatchObject({ misses: '1', nearHits: '1' });
  });

  it('refuses a decompression bomb and keeps serving inside 512 MB', async () => {
    const bomb = await sharp({
      create: { width: 10_000, height: 10_000, channels: 3, background: { r: 0, g: 0, b: 0 } },
    })
      .png()
      .toBuffer();
    const err = await call(bomb).then(
      () => null,
      (e: { code: string; message: string }) => e,
    );
    expect(err?.code).toBe('RESOURCE_EXHAUSTED');
    expect(err?.message).toMatch(/100\.0 MP, over the 50\.0 MP limit/);
    const h = await conn.grpcHealth.check({ service: '' }).response;
    expect(h.status).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);
  });

  it('keeps its hits across a container restart (index on the volume)', async () => {
    const original = await encode(scene({ family: 'photo', seed: 1, width: 800, height: 600 }), 'jpeg', 92);
    const before = await call(original);
    await container.restart();
    connect();
    await expect
      .poll(async () => (await conn.grpcHealth.check({ service: '' }).response.catch(() => null))?.status, {
        timeout: 30_000,
      })
      .toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);
    const again = await call(original);
    expect(again.cache).toBe('exact');
    expect(again.webpPath).toBe(before.webpPath);
    const near = await call(await sharp(original).webp({ quality: 50 }).toBuffer());
    expect(near.cache).toBe('near');
    expect(near.webpPath).toBe(before.webpPath);
  });

  it('stops gracefully on SIGTERM (exit code 0, index persisted)', async () => {
    const id = container.getId();
    await run('docker', ['stop', '--time', '20', id]);
    const { stdout } = await run('docker', ['inspect', '--format', '{{.State.ExitCode}}', id]);
    expect(stdout.trim()).toBe('0');
    const { stdout: out } = await run('docker', ['logs', id]);
    expect(out).toMatch(/"msg":"signal received, shutting down"/);
    expect(out).toMatch(/"msg":"stopped"/);
    const { stdout: size } = await run('docker', ['image', 'inspect', '--format', '{{.Size}}', IMAGE]);
    process.stdout.write(`image ${IMAGE}: ${(Number(size) / 1e6).toFixed(1)} MB\n`);
  });
});
