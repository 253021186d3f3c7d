// Adapter hot swaps in the real hardened image: published adapters (bind-mounted read-only) swapped in while a
// generation streams. The image runs with UV_THREADPOOL_SIZE=1, so replaced adapters are freed in place
// (ADAPTERS_RELEASE=auto): every swap stays on the first model instance.
import { connectSkill, type SkillConnection } from '@sarai/proto';
import { ensureDockerAvailable, hardenedContainer, requireLocalImage } from '@sarai/testkit';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishTestAdapter, testKey, type TestKey } from './test-support/adapters.js';
import { TINY_MODEL } from './test-support/models.js';
import { collectStream, genReq } from './test-support/server.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const IMAGE = process.env['SKILL_DRAFT_IMAGE'] ?? `sarai/skill-draft:${pkg.version}`;
const SWAPS = 6;

describe(`adapter swaps in ${IMAGE}`, () => {
  let root: string;
  let dir: string;
  let key: TestKey;
  let container: StartedTestContainer | undefined;
  let conn: SkillConnection;
  let metricsUrl: string;

  beforeAll(async () => {
    await ensureDockerAvailable();
    await requireLocalImage(IMAGE);
    root = await mkdtemp(join(tmpdir(), 'sarai-draft-image-swaps-'));
    dir = join(root, 'adapters');
    await mkdir(dir);
    // The service runs as 1000:1000: it must traverse the (private by default) temporary directories.
    await chmod(root, 0o755);
    await chmod(dir, 0o755);
    key = await testKey();
    await writeFile(join(root, 'trusted.asc'), key.pair.publicKeyArmored);
    container = await hardenedContainer(IMAGE, { memoryMiB: 800, cpus: 2 })
      .withBindMounts([
        { source: TINY_MODEL, target: '/models/model.gguf', mode: 'ro' },
        { source: dir, target: '/adapters', mode: 'ro' },
        { source: join(root, 'trusted.asc'), target: '/keys/trusted.asc', mode: 'ro' },
      ])
      .withEnvironment({
        LOG_LEVEL: 'warn',
        ADAPTERS_DIR: '/adapters',
        TRUSTED_KEYS_FILE: '/keys/trusted.asc',
        ADAPTERS_RESCAN_MS: '0',
        ADAPTERS_PER_MODEL: '3',
      })
      .withExposedPorts(50051, 9464)
      .start();
    conn = connectSkill(`${container.getHost()}:${container.getMappedPort(50051)}`, { timeoutMs: 60_000 });
    metricsUrl = `http://${container.getHost()}:${container.getMappedPort(9464)}/metrics`;
  }, 180_000);

  afterAll(async () => {
    conn?.close();
    await container?.stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  const metric = async (prefix: string): Promise<number> => {
    const body = await (await fetch(metricsUrl)).text();
    let total = 0;
    for (const line of body.split('\n')) if (line.startsWith(prefix)) total += Number(line.split(' ').at(-1));
    return total;
  };

  it(`${SWAPS} swaps with a generation in flight across each: all in place on one model instance`, async () => {
    let maxFiles = 0;
    for (let k = 1; k <= SWAPS; k++) {
      const inflight = collectStream(conn, genReq({ prompt: `across swap ${k}`, maxTokens: 64, seed: k }));
      const a = await publishTestAdapter({ dir, baseModelPath: TINY_MODEL, key, seed: 2000 + k });
      expect((await conn.skill.reloadAdapters({})).response.active).toBe(a.name);
      expect((await inflight).final?.tokensGenerated).toBe(64);
      const { response } = await conn.skill.generate(genReq({ prompt: `after swap ${k}`, maxTokens: 8 }));
      expect(response.adapter).toBe(a.name);
      maxFiles = Math.max(maxFiles, await metric('sarai_draft_adapter_files_loaded'));
    }
    expect(await metric('sarai_draft_adapter_swaps_total{kind="context"')).toBe(SWAPS);
    expect(await metric('sarai_draft_adapter_swaps_total{kind="model"')).toBe(0);
    expect(await metric('sarai_draft_model_instances')).toBe(1);
    // Replaced adapters are freed once their generation ends; a swap may come before that (the bound is K = 3).
    expect(maxFiles).toBeLessThanOrEqual(3);
  });
});
