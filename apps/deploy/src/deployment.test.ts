// The real path: the compose deployment starts the real hardened skill-draft and skill-image images (built locally
// by their `image` targets); the Omni-Loop runs over them with an image, signed reflections and an audit log; the
// draft container is stopped mid-run (the loop finishes through the in-process fallback, nothing lost); it comes back
// and the breaker closes. Everything talks over real gRPC on loopback.
import {
  OmniLoop,
  SkillPool,
  createReflectionSigner,
  verifyLoopAudit,
  type ReflectionSigner,
} from '@sarai/loop-core';
import { freePort } from '@sarai/formats';
import { PromptSigner, generateSigningKeyPair } from '@sarai/signer';
import { DraftEngine, ensureModel } from '@sarai/skill-draft';
import { preprocessImageLocal } from '@sarai/skill-image';
import { localComposeEnv, localComposeLayout } from '@sarai/skill-registry';
import { ensureDockerAvailable, hardeningViolations, resolveHardening } from '@sarai/testkit';
import OpenAI from 'openai';
import sharp from 'sharp';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const composeDir = fileURLToPath(new URL('..', import.meta.url));

async function inspect(id: string) {
  const { stdout } = await run('docker', ['inspect', id]);
  return (JSON.parse(stdout) as Array<Record<string, never>>)[0] as never;
}

describe('compose deployment: the Omni-Loop over the real hardened skills', () => {
  let dir: string;
  let env: StartedDockerComposeEnvironment;
  let draftId: string;
  let imageId: string;
  let draftPort: number;
  let imagePort: number;
  let modelPath: string;
  let cache: string;
  let hostId: string;
  let hostPort: number;
  let promPort: number;
  const apiKey = `it-${process.pid}-key`;

  beforeAll(async () => {
    await ensureDockerAvailable();
    dir = await mkdtemp(join(tmpdir(), 'sarai-deploy-'));
    modelPath = (await ensureModel(join(dir, 'models'), { preset: 'tiny', type: 'Q8_0', seed: 1 })).path;
    const layout = localComposeLayout(dir);
    cache = layout.imageCacheDir;
    [draftPort, imagePort] = [await freePort(), await freePort()];
    [hostPort, promPort] = [await freePort(), await freePort()];
    // the host's state (signing key, audit and interaction logs), the image cache and the sandbox socket directory
    // belong to UID 1000
    for (const d of layout.ownedDirs) {
      await mkdir(d, { recursive: true });
      await chown(d, 1000, 1000);
    }
    await writeFile(layout.apiKeyFile, `${apiKey}\n`, { mode: 0o644 });
    env = await new DockerComposeEnvironment(composeDir, 'docker-compose.yml')
      .withClientOptions({ executable: { standalone: true, executablePath: 'docker-compose' } })
      .withProjectName(`sarai-it-${process.pid}`)
      .withEnvironment({
        ...localComposeEnv({
          root: dir,
          modelPath,
          ports: { skills: { draft: draftPort, image: imagePort }, host: hostPort, prometheus: promPort },
        }),
        // generous: this box may be busy, and a slow draft would (rightly) go to the host's fallback
        SARAI_DRAFT_DEADLINE_MS: '120000',
      })
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      .withStartupTimeout(180_000)
      .up(['skill-draft', 'skill-image', 'skill-sandbox', 'sarai', 'prometheus']);
    const ids = async (svc: string) =>
      (
        await run('docker', [
          'ps',
          '-aq',
          '--filter',
          `label=com.docker.compose.project=sarai-it-${process.pid}`,
          '--filter',
          `label=com.docker.compose.service=${svc}`,
        ])
      ).stdout.trim();
    draftId = await ids('skill-draft');
    imageId = await ids('skill-image');
    hostId = await ids('sarai');
  }, 300_000);

  afterAll(async () => {
    await env?.down({ timeout: 10_000 });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('runs every skill hardened with the seed limits', async () => {
    const draft = hardeningViolations(
      await inspect(draftId),
      resolveHardening({ memoryMiB: 800, cpus: 2, pidsLimit: 256, tmpfsMiB: 256 }),
    );
    expect(draft).toEqual([]);
    // skill-image's cache volume is meant to be writable; everything else must hold
    const image = hardeningViolations(
      await inspect(imageId),
      resolveHardening({ memoryMiB: 512, cpus: 1, pidsLimit: 256, tmpfsMiB: 256 }),
    );
    expect(image.filter((v) => !v.includes('-> /cache is writable'))).toEqual([]);
  });

  it('the host serves the OpenAI API hardened, passes loop --test, and Prometheus answers every dashboard and rule query', async () => {
    const host = hardeningViolations(
      await inspect(hostId),
      resolveHardening({ memoryMiB: 1024, cpus: 1, pidsLimit: 128, tmpfsMiB: 256 }),
    );
    // its state, the shared image cache and the sandbox socket directory are meant to be writable
    expect(host.filter((v) => !/-> \/(state|cache|run\/sarai) is writable/.test(v))).toEqual([]);

    // 1. a plain OpenAI client, with the deployment's API key
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${hostPort}/v1`, apiKey, maxRetries: 0 });
    const params = {
      model: 'sarai',
      messages: [{ role: 'user' as const, content: 'Say something.' }],
      max_tokens: 8,
      seed: 4,
      sarai: { iterations: 2, threshold: 1 },
    };
    const chat = (await client.chat.completions.create(params)) as OpenAI.ChatCompletion & {
      sarai: { fallback_used: boolean; iterations: unknown[] };
    };
    expect(chat.sarai).toMatchObject({ fallback_used: false });
    expect(chat.sarai.iterations).toHaveLength(2);
    let streamed = '';
    for await (const c of await client.chat.completions.create({ ...params, stream: true })) {
      streamed += c.choices[0]?.delta.content ?? '';
    }
    expect(streamed).toBe(chat.choices[0]?.message.content);
    const anonymous = new OpenAI({
      baseURL: `http://127.0.0.1:${hostPort}/v1`,
      apiKey: 'nope',
      maxRetries: 0,
    });
    await expect(anonymous.models.list()).rejects.toMatchObject({ status: 401 });

    // 2. the CLI's smoke test from inside the host container (compose names, the sandbox socket)
    const smoke = await run('docker', [
      'exec',
      hostId,
      '/usr/local/bin/node',
      '/app/dist/main.js',
      'loop',
      '--test',
      '--deadline',
      '120000',
    ]).catch((e: { stdout?: string; message: string }) => ({ stdout: `${e.stdout ?? ''}\n${e.message}` }));
    expect(smoke.stdout).toMatch(/smoke test passed/);

    // 3. Prometheus: every target up, then every dashboard query and every alert rule's signal returns series
    const prom = `http://127.0.0.1:${promPort}`;
    const api = async <T>(path: string): Promise<T> =>
      ((await (await fetch(`${prom}${path}`)).json()) as { data: T }).data;
    await expect
      .poll(
        async () =>
          (
            await api<{ activeTargets: Array<{ labels: { job: string }; health: string }> }>(
              '/api/v1/targets',
            )
          ).activeTargets
            .map((t) => `${t.labels.job}:${t.health}`)
            .sort(),
        { timeout: 60_000, interval: 1_000 },
      )
      .toEqual(['prometheus:up', 'sarai-host:up', 'sarai-skills:up', 'sarai-skills:up']);
    const consolePage = await readFile(join(composeDir, 'prometheus/consoles/sarai.html'), 'utf8');
    const grafana = JSON.parse(await readFile(join(composeDir, 'grafana/sarai-dashboard.json'), 'utf8')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const rules = (
      await api<{ groups: Array<{ rules: Array<{ name: string; query: string; health: string }> }> }>(
        '/api/v1/rules',
      )
    ).groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'SaraiSkillDown',
        'SaraiBreakerOpen',
        'SaraiFallbackRateHigh',
        'SaraiLoopLatencyP99High',
        'SaraiAdapterRejected',
        'SaraiImageCacheGuardRefusals',
      ]),
    );
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    const queries = [
      ...[...consolePage.matchAll(/expr: "([^"]+)"|\(args "([^"]+)"/g)].map((m) => (m[1] ?? m[2]) as string),
      ...grafana.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      // an alert's signal: its comparison with `bool` returns 0/1 series whenever the metric exists
      ...rules.map((r) =>
        r.query.replace(/\s*(==|!=|>=|<=|>|<)\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*$/, ' $1 bool $2'),
      ),
    ];
    expect(queries.length).toBeGreaterThan(20);
    const empty = async () => {
      const out: string[] = [];
      for (const q of queries) {
        const r = await api<{ result: unknown[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`);
        if (!r?.result?.length) out.push(q);
      }
      return out;
    };
    await expect.poll(empty, { timeout: 90_000, interval: 2_000 }).toEqual([]);
    const page = await fetch(`${prom}/consoles/sarai.html`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/SARAi Phoenix/);
  }, 300_000);

  it('loops with an image over the skills, survives the draft container dying mid-run, and uses it again when back', async () => {
    const pair = await generateSigningKeyPair({ name: 'SARAi IT', email: 'sarai@localhost' });
    const signer = await PromptSigner.fromKey(pair.privateKeyArmored);
    const audit = join(dir, 'audit.jsonl');
    const interactions = join(dir, 'interactions.jsonl');
    const real = createReflectionSigner(signer, audit);
    let onReflection: (() => Promise<void>) | undefined;
    const reflectionSigner: ReflectionSigner = {
      async signAndRecord(prompt) {
        const r = await real.signAndRecord(prompt);
        const hook = onReflection;
        onReflection = undefined;
        await hook?.();
        return r;
      },
    };
    const pool = new SkillPool({
      addresses: { draft: `127.0.0.1:${draftPort}`, image: `127.0.0.1:${imagePort}` },
      breaker: { resetTimeoutMs: 120_000 },
    });
    const engine = await DraftEngine.load({
      modelPath,
      threads: 1,
      contextSize: 2048,
      sequences: 1,
      maxQueue: 4,
    });
    const loop = new OmniLoop({
      pool,
      signer: reflectionSigner,
      interactionLog: interactions,
      maxIterations: 3,
      confidenceThreshold: 1,
      stopOnUnchanged: false,
      maxTokens: 16,
      draftDeadlineMs: 60_000,
      fallback: {
        draft: {
          generate: async (prompt, o) => ({
            text: (
              await engine.generate({
                prompt,
                maxTokens: o.maxTokens,
                stop: o.stop,
                temperature: o.temperature,
              })
            ).text,
          }),
        },
        image: { preprocess: async (bytes, o) => preprocessImageLocal(bytes, o, cache) },
      },
    });
    const picture = await sharp({
      create: { width: 320, height: 200, channels: 3, background: { r: 200, g: 60, b: 30 } },
    })
      .composite([
        {
          input: Buffer.from(
            '<svg width="320" height="200"><circle cx="160" cy="100" r="60" fill="#1a8"/></svg>',
          ),
        },
      ])
      .png()
      .toBuffer();
    try {
      // 1. the whole path over the containers
      const first = await loop.run('Describe this picture.', { image: picture });
      expect(first.iterations.map((i) => i.source)).toEqual(['skill', 'skill', 'skill']);
      expect(first.fallbackUsed).toBe(false);
      expect(first.image).toMatchObject({ source: 'skill', format: 'webp' });
      const onHost = await stat(join(cache, first.image?.path ?? 'missing'));
      expect(onHost.uid).toBe(1000);
      expect(
        await verifyLoopAudit(audit, { trusted: pair.publicKeyArmored, interactionLogPath: interactions }),
      ).toMatchObject({ ok: true, records: 2 });

      // 2. the draft container is stopped after the first reflection prompt is signed, before it is sent
      onReflection = async () => {
        await run('docker', ['stop', '-t', '2', draftId]);
      };
      const second = await loop.run('Describe this picture again.', { image: picture });
      expect(second.iterations).toHaveLength(3);
      expect(second.iterations.map((i) => i.source)).toEqual(['skill', 'fallback', 'fallback']);
      expect(second.fallbackUsed).toBe(true);
      expect(second.image?.cache).toBe('exact');
      expect(second.text.length).toBeGreaterThan(0);
      const report = await verifyLoopAudit(audit, {
        trusted: pair.publicKeyArmored,
        interactionLogPath: interactions,
      });
      expect(report).toMatchObject({ ok: true, records: 4 });

      // 3. the container comes back on the same address: health Watch closes the breaker, the skill answers again
      await run('docker', ['start', draftId]);
      await expect.poll(() => pool.get('draft').health, { timeout: 120_000, interval: 250 }).toBe('SERVING');
      await expect.poll(() => pool.get('draft').breakerState, { timeout: 10_000 }).toBe('closed');
      const third = await loop.run('And once more.');
      expect(third.iterations.every((i) => i.source === 'skill')).toBe(true);
      expect(third.fallbackUsed).toBe(false);
    } finally {
      pool.close();
      await engine.dispose();
    }
  }, 600_000);
});
