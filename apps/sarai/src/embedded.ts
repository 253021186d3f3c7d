import { connectSkill, grpcHealthV1 } from '@sarai/proto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors.js';
import type { Io } from './io.js';

/** Where the loop finds its skills. */
export interface Deployment {
  embedded: boolean;
  /** The draft model is a generated stand-in (random weights). */
  standIn: boolean;
  /** The model file the embedded draft skill serves (also usable by the local fallback). */
  standInModel?: string;
  addresses: Record<string, string>;
  /** PIDs of skill processes on this machine (RAM figures). */
  skillPids(): number[];
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

function skillMain(pkg: string): string {
  let dir: string;
  try {
    dir = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new CliError('CLI_CONFIG', `${pkg} is not installed: run npm ci`);
  }
  const main = join(dir, 'dist', 'main.js');
  if (!existsSync(main))
    throw new CliError('CLI_CONFIG', `${main} is missing: build first (npx nx run-many -t build)`);
  return main;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Decode threads for a draft model that shares this machine with other busy processes (the host, skill-image, a
 * fallback): `SARAI_DRAFT_THREADS`, else one core less than the machine has (at least 1). node-llama-cpp's prebuilt
 * CPU binaries have no OpenMP; with as many threads as cores, any other load makes their spinning workers collapse
 * (measured here on 2 cores under load: 60 sequential 64-token requests on the tiny model, 2 threads → most past a
 * 5 s deadline; 1 thread → every one in 8–65 ms).
 */
export function sharedHostThreads(env: NodeJS.ProcessEnv): number {
  const configured = Number(env['SARAI_DRAFT_THREADS']);
  if (Number.isInteger(configured) && configured > 0) return configured;
  return Math.max(1, availableParallelism() - 1);
}

/** The model the embedded draft skill serves: `SARAI_DRAFT_MODEL`, else a generated tiny stand-in. */
export async function embeddedModel(io: Io, stateDir: string): Promise<{ path: string; standIn: boolean }> {
  const configured = io.env['SARAI_DRAFT_MODEL'];
  if (configured) {
    if (!existsSync(configured))
      throw new CliError('CLI_CONFIG', `SARAI_DRAFT_MODEL=${configured}: no such file`);
    return { path: configured, standIn: false };
  }
  const { ensureModel } = await import('@sarai/skill-draft');
  const dir = join(stateDir, 'models');
  await mkdir(dir, { recursive: true });
  const m = await ensureModel(dir, { preset: 'tiny', type: 'Q8_0', seed: 1 });
  return { path: m.path, standIn: true };
}

interface Child {
  name: string;
  proc: ChildProcess;
  stderr: string[];
  exited: Promise<number | null>;
}

function start(name: string, main: string, env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, [main], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr.push(...d.split('\n').filter(Boolean));
    if (stderr.length > 20) stderr.splice(0, stderr.length - 20);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { name, proc, stderr, exited };
}

async function waitServing(child: Child, address: string, timeoutMs: number): Promise<void> {
  const conn = connectSkill(address);
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  try {
    while (Date.now() < deadline) {
      if (exited) {
        throw new CliError(
          'CLI_FAILED',
          `embedded ${child.name} skill exited during start-up:\n  ${child.stderr.slice(-8).join('\n  ')}`,
        );
      }
      try {
        const { response } = await conn.grpcHealth.check({ service: '' }, { timeout: 1_000 });
        if (response.status === grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new CliError(
      'CLI_FAILED',
      `embedded ${child.name} skill did not become SERVING within ${timeoutMs} ms`,
    );
  } finally {
    conn.close();
  }
}

async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await c.exited;
  clearTimeout(t);
}

/**
 * Starts skill-draft and skill-image as local processes on loopback (no Docker needed), waits until both are
 * SERVING, and returns their addresses. The draft skill serves `SARAI_DRAFT_MODEL` or a generated stand-in.
 */
export async function startEmbedded(
  io: Io,
  opts: { imageCache: string; stateDir?: string; say: (t: string) => void },
): Promise<Deployment> {
  const stateDir = opts.stateDir ?? dirname(opts.imageCache);
  const model = await embeddedModel(io, stateDir);
  await mkdir(opts.imageCache, { recursive: true });
  const [draftPort, imagePort] = [await freePort(), await freePort()];
  const base = { ...io.env, HOST: '127.0.0.1', METRICS_PORT: '-1', LOG_LEVEL: io.env['LOG_LEVEL'] || 'warn' };
  opts.say(
    `starting embedded skills on 127.0.0.1:${draftPort} (draft) and 127.0.0.1:${imagePort} (image)...\n`,
  );
  const children = [
    start('draft', skillMain('@sarai/skill-draft'), {
      ...base,
      PORT: String(draftPort),
      MODEL_PATH: model.path,
    }),
    start('image', skillMain('@sarai/skill-image'), {
      ...base,
      PORT: String(imagePort),
      CACHE_DIR: opts.imageCache,
    }),
  ];
  const addresses = { draft: `127.0.0.1:${draftPort}`, image: `127.0.0.1:${imagePort}` };
  try {
    await Promise.all([
      waitServing(children[0] as Child, addresses.draft, 120_000),
      waitServing(children[1] as Child, addresses.image, 60_000),
    ]);
  } catch (e) {
    await Promise.all(children.map(stopChild));
    throw e;
  }
  return {
    embedded: true,
    standIn: model.standIn,
    standInModel: model.path,
    addresses,
    skillPids: () => children.map((c) => c.proc.pid ?? 0).filter((p) => p > 0),
    stop: async () => {
      await Promise.all(children.map(stopChild));
    },
  };
}
