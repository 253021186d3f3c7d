import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertHardenedInside,
  ensureDockerAvailable,
  execNode,
  hardenedContainer,
  hardeningViolations,
  inspectContainer,
  type HardenedContainer,
} from '@sarai/testkit';
import { getLlama, LlamaLogLevel, type LlamaModel, type Token } from 'node-llama-cpp';
import { Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAdapterManifest } from './manifest.js';
import { testKeyPair, toyInteractionLog } from './test-support/fixtures.js';
import { TINY_MODEL } from './test-support/models.js';

/** Built by the `image` target this test target depends on (nx run @sarai/lora-trainer:image). */
const IMAGE = 'sarai/lora-trainer:dev';
const UID = 1000;

describe('the sarai/lora-trainer image: hardened, offline, trains the tiny model', () => {
  let dir: string;
  let data: string;
  let hardened: HardenedContainer;
  let container: StartedTestContainer;
  let publicKey: string;

  beforeAll(async () => {
    await ensureDockerAvailable();
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-container-'));
    data = join(dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'interactions.jsonl'), toyInteractionLog(48));
    const keys = await testKeyPair();
    publicKey = keys.publicKeyArmored;
    const keyFile = join(dir, 'signing.asc');
    await writeFile(keyFile, keys.privateKeyArmored);
    for (const p of [data, join(data, 'interactions.jsonl'), keyFile]) await chown(p, UID, UID);
    await chmod(keyFile, 0o400);
    hardened = hardenedContainer(IMAGE, {
      cpus: 2,
      memoryMiB: 4096,
      tmpfsMiB: 256,
      networkNone: true,
      wait: Wait.forLogMessage('lora-trainer-ready'),
    })
      // a long-lived container to exec the job in and probe it from inside; the image's own entry is the job
      .withEntrypoint(['/usr/local/bin/node'])
      .withCommand(['-e', "console.log('lora-trainer-ready'); setInterval(() => {}, 1 << 30)"])
      .withBindMounts([
        { source: data, target: '/data', mode: 'rw' },
        { source: TINY_MODEL, target: '/models/base.gguf', mode: 'ro' },
        { source: keyFile, target: '/run/secrets/signing.asc', mode: 'ro' },
      ]);
    container = await hardened.start();
  });

  afterAll(async () => {
    await container?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs with every hardening setting, seen by docker inspect and from inside (only lo exists)', async () => {
    // testkit's check wants every mount read-only; the job needs exactly one writable volume (the data volume)
    expect(hardeningViolations(await inspectContainer(container), hardened.hardening)).toEqual([
      `mount ${data} -> /data is writable, expected read-only`,
    ]);
    const view = await assertHardenedInside(container, hardened.hardening);
    expect(view.interfaces).toEqual(['lo']);
    const writable = await execNode(
      container,
      `const fs = require('fs'); const t = (p) => { try { fs.writeFileSync(p, 'x'); fs.unlinkSync(p); return 'ok'; } catch (e) { return e.code; } };
       console.log(JSON.stringify({ data: t('/data/probe'), models: t('/models/probe'), app: t('/app/probe'), secrets: t('/run/secrets/probe') }));`,
    );
    expect(JSON.parse(writable.stdout)).toEqual({
      data: 'ok',
      models: 'EROFS',
      app: 'EROFS',
      secrets: 'EROFS',
    });
  });

  it('trains inside the image: exit 0, adapter + signed manifest on the data volume, eval loss went down', async () => {
    const job = await container.exec(
      [
        '/usr/local/bin/node',
        '/app/dist/main.js',
        'nightly',
        '--rank',
        '4',
        '--epochs',
        '4',
        '--lr',
        '0.002',
        '--threads',
        '1',
      ],
      {
        workingDir: '/app',
      },
    );
    expect(job.exitCode, job.stderr).toBe(0);
    const summary = JSON.parse(job.stdout.trim().split('\n').at(-1) as string) as {
      status: string;
      losses: { evalBefore: number; evalAfter: number };
    };
    expect(summary.status).toBe('trained');
    expect(summary.losses.evalAfter).toBeLessThan(summary.losses.evalBefore * 0.9);
    const adapters = join(data, 'adapters');
    expect((await readdir(adapters)).sort()).toEqual([
      'lora_' + dateStamp() + '.dataset.jsonl',
      'lora_' + dateStamp() + '.gguf',
      'lora_' + dateStamp() + '.manifest.json',
      'lora_' + dateStamp() + '.manifest.json.asc',
    ]);
    const verified = await verifyAdapterManifest({
      manifestPath: join(adapters, `lora_${dateStamp()}.manifest.json`),
      trusted: publicKey,
    });
    expect(verified.manifest.losses.evalAfter).toBe(summary.losses.evalAfter);
    expect(verified.manifest.baseModel.file).toBe('base.gguf');
    // stderr carries pino JSON lines only, none with interaction text
    expect(job.stderr).not.toContain('What color is item');

    const again = await container.exec(['/usr/local/bin/node', '/app/dist/main.js', 'nightly'], {
      workingDir: '/app',
    });
    expect(again.exitCode).toBe(3);
  });

  it('the trained adapter changes the model: greedy output with node-llama-cpp differs from the base', async () => {
    const adapterPath = join(data, 'adapters', `lora_${dateStamp()}.gguf`);
    const llama = await getLlama({ gpu: false, maxThreads: 2, logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: TINY_MODEL });
    try {
      const prompt = '<|im_start|>user\nWhat color is item 7?<|im_end|>\n<|im_start|>assistant\n';
      const base = await greedy(model, prompt);
      const tuned = await greedy(model, prompt, adapterPath);
      expect(tuned).not.toBe(base);
    } finally {
      await model.dispose();
      await llama.dispose();
    }
  });
});

function dateStamp(): string {
  return new Date().toISOString().slice(0, 10).replace(/-/g, '');
}

async function greedy(model: LlamaModel, prompt: string, adapter?: string): Promise<string> {
  const context = await model.createContext({
    contextSize: 512,
    threads: 2,
    ...(adapter !== undefined ? { lora: { adapters: [{ filePath: adapter }] } } : {}),
  });
  try {
    const sequence = context.getSequence();
    const out: Token[] = [];
    for await (const token of sequence.evaluate(model.tokenize(prompt, true), { temperature: 0 })) {
      out.push(token);
      if (out.length >= 16) break;
    }
    return model.detokenize(out, true);
  } finally {
    await context.dispose();
  }
}
