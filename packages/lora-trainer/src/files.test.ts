import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapterArtifacts as artifactsFor } from '@sarai/formats';
import { allocateAdapterPath, writeFileExclusive } from './files.js';
import { publishAdapter } from './publish.js';

describe('adapter names and atomic, non-clobbering writes', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-files-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('allocates lora_YYYYMMDD.gguf, then -2, -3, ... across every listed directory', async () => {
    const day = new Date('2026-11-24T23:30:00Z');
    const published = join(dir, 'published');
    const staging = join(dir, 'staging');
    await mkdir(published);
    await mkdir(staging);
    expect(await allocateAdapterPath(staging, day, [published])).toBe(join(staging, 'lora_20261124.gguf'));
    await writeFile(join(published, 'lora_20261124.manifest.json'), '{}'); // any artifact takes the name
    await writeFile(join(published, 'lora_20261124-2.gguf'), '');
    await writeFile(join(published, 'lora_20261123.gguf'), '');
    expect(await allocateAdapterPath(staging, day, [published])).toBe(join(staging, 'lora_20261124-3.gguf'));
    expect(artifactsFor('/a/lora_20261124-3.gguf')).toEqual({
      adapter: '/a/lora_20261124-3.gguf',
      manifest: '/a/lora_20261124-3.manifest.json',
      signature: '/a/lora_20261124-3.manifest.json.asc',
      dataset: '/a/lora_20261124-3.dataset.jsonl',
    });
  });

  it('never overwrites: of concurrent writers to one name exactly one wins, no temp file is left', async () => {
    const target = join(dir, 'lora_20261124.gguf');
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => writeFileExclusive(target, `writer ${i}`)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'TRAINER_PUBLISH_CONFLICT' });
    expect(await readFile(target, 'utf8')).toMatch(/^writer \d$/);
    expect(await readdir(dir)).toEqual(['lora_20261124.gguf']);
  });
});

describe('publishAdapter', () => {
  let dir: string;
  let staging: string;
  let adapters: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-publish-'));
    staging = join(dir, 'staging');
    adapters = join(dir, 'adapters');
    await mkdir(staging);
    const a = artifactsFor(join(staging, 'lora_20261124.gguf'));
    await writeFile(a.adapter, 'ADAPTER');
    await writeFile(a.manifest, 'MANIFEST');
    await writeFile(a.signature, 'SIG');
    await writeFile(a.dataset, 'DATA');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('moves the adapter, manifest, signature and dataset into the adapters directory', async () => {
    const out = await publishAdapter({
      adapterPath: join(staging, 'lora_20261124.gguf'),
      adaptersDir: adapters,
    });
    expect(out).toEqual(artifactsFor(join(adapters, 'lora_20261124.gguf')));
    expect((await readdir(adapters)).sort()).toEqual([
      'lora_20261124.dataset.jsonl',
      'lora_20261124.gguf',
      'lora_20261124.manifest.json',
      'lora_20261124.manifest.json.asc',
    ]);
    expect(await readFile(out.adapter, 'utf8')).toBe('ADAPTER');
    expect(await readdir(staging)).toEqual([]);
  });

  it('refuses to overwrite a published name and leaves both sides untouched', async () => {
    await mkdir(adapters);
    await writeFile(join(adapters, 'lora_20261124.manifest.json'), 'OLD');
    await expect(
      publishAdapter({ adapterPath: join(staging, 'lora_20261124.gguf'), adaptersDir: adapters }),
    ).rejects.toMatchObject({
      code: 'TRAINER_PUBLISH_CONFLICT',
    });
    expect(await readdir(adapters)).toEqual(['lora_20261124.manifest.json']);
    expect(await readFile(join(adapters, 'lora_20261124.manifest.json'), 'utf8')).toBe('OLD');
    expect(await readdir(staging)).toHaveLength(4);
  });

  it('requires the manifest and signature to exist (an unsigned adapter is never published)', async () => {
    await rm(join(staging, 'lora_20261124.manifest.json.asc'));
    await expect(
      publishAdapter({ adapterPath: join(staging, 'lora_20261124.gguf'), adaptersDir: adapters }),
    ).rejects.toMatchObject({
      code: 'TRAINER_IO',
    });
  });
});
