// Test helpers: a real skill-image service on loopback with its own temporary cache directory.
import { connectSkill, type ImageReply, type RpcError, type SkillConnection } from '@sarai/proto';
import { createLogger } from '@sarai/skill-runtime';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { PipelineOptions } from '../pipeline.js';
import { startImageSkill, type RunningImageSkill } from '../service.js';

export const silent = createLogger({ name: 'image-test', level: 'silent' });

const created: string[] = [];

/** A fresh directory under the OS temp dir, removed by {@link removeTempDirs}. */
export async function tempDir(prefix = 'skill-image-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  for (const d of created.splice(0)) await fs.rm(d, { recursive: true, force: true });
}

export interface Harness {
  skill: RunningImageSkill;
  conn: SkillConnection;
  dir: string;
  stop(): Promise<void>;
  /** PreprocessImage; asserts the returned path is a relative path to a regular file inside the cache root. */
  call(
    bytes: Uint8Array,
    opts?: { format?: string; quality?: number; maxDimension?: number },
  ): Promise<ImageReply>;
  /** PreprocessImage expected to fail; returns the RpcError. */
  fail(
    bytes: Uint8Array,
    opts?: { format?: string; quality?: number; maxDimension?: number },
  ): Promise<RpcError>;
}

export async function startHarness(
  opts: {
    dir?: string;
    pipeline?: Omit<PipelineOptions, 'cacheDir'>;
    maxMessageBytes?: number;
    metricsPort?: number;
  } = {},
): Promise<Harness> {
  const dir = opts.dir ?? (await tempDir());
  const skill = await startImageSkill({
    pipeline: { cacheDir: dir, fsync: false, ...opts.pipeline },
    logger: silent,
    host: '127.0.0.1',
    port: 0,
    ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
    ...(opts.maxMessageBytes !== undefined ? { maxMessageBytes: opts.maxMessageBytes } : {}),
    shutdownGraceMs: 5_000,
  });
  const conn = connectSkill(`127.0.0.1:${skill.running.port}`, { maxMessageBytes: 64 * 1024 * 1024 });
  const request = (
    bytes: Uint8Array,
    o: { format?: string; quality?: number; maxDimension?: number } = {},
  ) => ({
    imageData: bytes,
    format: o.format ?? '',
    quality: o.quality ?? 0,
    maxDimension: o.maxDimension ?? 0,
  });
  return {
    skill,
    conn,
    dir,
    async stop() {
      conn.close();
      await skill.running.shutdown('test done');
    },
    async call(bytes, o) {
      const { response } = await conn.skill.preprocessImage(request(bytes, o));
      await expectInsideRoot(dir, response.webpPath);
      return response;
    },
    async fail(bytes, o) {
      const r = await conn.skill.preprocessImage(request(bytes, o)).response.then(
        (ok) => {
          throw new Error(`expected an error, got ${JSON.stringify({ ...ok, imageData: undefined })}`);
        },
        (e: unknown) => e as RpcError,
      );
      return r;
    },
  };
}

/** The path is relative, has no '..', and names a regular file whose real path is inside the root. */
export async function expectInsideRoot(root: string, rel: string): Promise<string> {
  expect(path.isAbsolute(rel)).toBe(false);
  expect(rel.split('/')).not.toContain('..');
  const realRoot = await fs.realpath(root);
  const abs = path.resolve(realRoot, rel);
  const real = await fs.realpath(abs);
  expect(real.startsWith(realRoot + path.sep)).toBe(true);
  expect((await fs.lstat(abs)).isFile()).toBe(true);
  return abs;
}

/** Output files (not metadata) below the root. */
export async function variantFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (/\.(webp|jpg|avif|png)$/.test(e.name)) out.push(path.relative(root, p));
    }
  };
  await walk(path.join(root, 'e')).catch(() => undefined);
  return out.sort();
}

export { startServiceProcess } from '../../bench/service-process.js';
