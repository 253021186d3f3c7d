// The real image (nx run @sarai/skill-draft:image), run hardened with testcontainers and the tiny model mounted
// read-only at /models/model.gguf, with the seed's limits for the draft skill (2 CPUs, 800 MB).
import {
  HealthCheckResponse_ServingStatus,
  connectSkill,
  grpcHealthV1,
  type GenReply,
  type SkillConnection,
} from '@sarai/proto';
import {
  assertHardenedInside,
  assertHardening,
  ensureDockerAvailable,
  hardenedContainer,
  inspectContainer,
  requireLocalImage,
} from '@sarai/testkit';
import { readFileSync } from 'node:fs';
import { ImageName, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL } from './test-support/models.js';
import { collectStream, genReq } from './test-support/server.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const IMAGE = process.env['SKILL_DRAFT_IMAGE'] ?? `sarai/skill-draft:${pkg.version}`;
const LIMITS = { memoryMiB: 800, cpus: 2 };

describe(`container ${IMAGE}`, () => {
  let hardened: ReturnType<typeof hardenedContainer>;
  let container: StartedTestContainer | undefined;
  let conn: SkillConnection;

  beforeAll(async () => {
    await ensureDockerAvailable();
    await requireLocalImage(IMAGE);
    hardened = hardenedContainer(IMAGE, LIMITS)
      .withBindMounts([{ source: TINY_MODEL, target: '/models/model.gguf', mode: 'ro' }])
      .withEnvironment({ LOG_LEVEL: 'warn' })
      .withExposedPorts(50051);
    container = await hardened.start(); // waits for the HEALTHCHECK (grpc.health.v1 over loopback) to pass
    conn = connectSkill(`${container.getHost()}:${container.getMappedPort(50051)}`, { timeoutMs: 60_000 });
  }, 180_000);

  afterAll(async () => {
    conn?.close();
    await container?.stop().catch(() => undefined);
  });

  it('runs hardened: every setting checked from docker inspect and from inside', async () => {
    const c = container as StartedTestContainer;
    const inspect = await inspectContainer(c);
    assertHardening(inspect, hardened.hardening);
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
    expect(inspect.HostConfig.CapDrop).toContain('ALL');
    expect(inspect.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(inspect.HostConfig.NanoCpus).toBe(2e9);
    expect(inspect.HostConfig.Memory).toBe(800 * 1024 * 1024);
    expect(inspect.Config.User).toBe('1000:1000');
    expect(inspect.Mounts.map((m) => [m.Destination, m.RW])).toEqual([['/models/model.gguf', false]]);
    expect(inspect.Config.Healthcheck?.Test).toEqual([
      'CMD',
      '/usr/local/bin/node',
      '/app/node_modules/@sarai/skill-runtime/dist/healthcheck.js',
    ]);
    expect(inspect.State.Health?.Status).toBe('healthy');
    // The image probes every 10 s (each probe is a docker exec + a Node start, taken from the decode's cores);
    // the test applied the same command every second (testkit) to notice readiness sooner.
    const client = await getContainerRuntimeClient();
    const image = await client.image.inspect(ImageName.fromString(IMAGE));
    expect(image.Config?.Healthcheck?.Interval).toBe(10e9);
    expect(inspect.Config.Healthcheck?.Interval).toBe(1e9);
    expect(inspect.Config.Healthcheck?.Test).toEqual(image.Config?.Healthcheck?.Test);
    await assertHardenedInside(c, hardened.hardening);
  });

  it('reports SERVING on both health protocols over the mapped port', async () => {
    const { response } = await conn.grpcHealth.check({ service: '' });
    expect(response.status).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);
    const seed = await conn.health.check({ service: 'skills.Skill' });
    expect(seed.response.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it('serves Generate and GenerateStream (same text for the same seed)', async () => {
    const req = genReq({
      prompt: 'In a container',
      maxTokens: 24,
      temperature: 0.7,
      seed: 11,
      logprobs: true,
    });
    const { response } = await conn.skill.generate(req);
    expect(response.tokensGenerated).toBe(24);
    expect(response.model).toBe('sarai-tiny-q8_0-s1');
    expect(response.ramMb).toBeGreaterThan(0);
    expect(response.ramMb).toBeLessThan(800);
    expect(response.meanLogprob).toBeLessThan(0);
    const stream = await collectStream(conn, req);
    expect(stream.text).toBe(response.text);
    expect(stream.final?.finishReason).toBe('length');
  });

  it('drains an in-flight stream on SIGTERM and exits 0', async () => {
    const c = container as StartedTestContainer;
    const call = conn.skill.generateStream(genReq({ prompt: 'finish before exiting', maxTokens: 120 }));
    const chunks = call.responses[Symbol.asyncIterator]();
    await chunks.next(); // generating: now stop the container (SIGTERM, then SIGKILL after the timeout)
    const stopping = c.stop({ timeout: 60_000, remove: false });
    let final: GenReply | undefined;
    for (let r = await chunks.next(); !r.done; r = await chunks.next())
      if (r.value.final) final = r.value.reply;
    await call.status;
    await stopping;
    expect(final?.tokensGenerated).toBe(120);
    const client = await getContainerRuntimeClient();
    const after = await client.container.inspect(client.container.getById(c.getId()));
    expect(after.State.ExitCode).toBe(0);
    await client.container.remove(client.container.getById(c.getId())).catch(() => undefined);
    container = undefined;
  });
});
