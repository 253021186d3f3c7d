import { freePort } from '@sarai/formats';
import { connectSkill, grpcHealthV1 } from '@sarai/proto';
import { loadRegistry, type SkillEntry, type SkillRegistry } from '@sarai/skill-registry';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
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
  /** Registered skills this deployment started (embedded) or expects (compose), in name order. */
  skills?: readonly string[];
  /** name → 127.0.0.1:port of each embedded skill's Prometheus /metrics (only with `metrics: true`). */
  metricsAddresses?: Record<string, string>;
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

/** Values of the registry's `embedded.env` placeholders. */
interface Placeholders {
  state: string;
  imageCache: string;
  draftModel?: string;
  tmp: string;
}

function resolveEnv(
  entry: SkillEntry,
  env: Record<string, string>,
  values: Placeholders,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    out[k] = v.replace(/\{(state|imageCache|draftModel|tmp)\}/g, (_, key: keyof Placeholders) => {
      const value = values[key];
      if (value === undefined) {
        throw new CliError('CLI_CONFIG', `embedded skill "${entry.name}": no value for {${key}} in ${k}`);
      }
      return value;
    });
  }
  return out;
}

/** Registered skills `--embedded` starts: those with a workspace package and `embedded` not false. */
export function embeddedSkills(registry: SkillRegistry): SkillEntry[] {
  return registry.skills.filter((s) => s.embedded !== false && s.package !== undefined);
}

/**
 * Starts every registered skill that supports embedded mode (@sarai/skill-registry: a `package` and `embedded` not
 * false) as a local process on loopback (no Docker needed), waits until all are SERVING, and returns their addresses.
 * A skill whose embedded env names `{draftModel}` gets `SARAI_DRAFT_MODEL` or a generated stand-in model.
 */
export async function startEmbedded(
  io: Io,
  opts: {
    imageCache: string;
    stateDir?: string;
    say: (t: string) => void;
    registry?: SkillRegistry;
    /** Serve each skill's Prometheus metrics on a free loopback port (default: off). */
    metrics?: boolean;
  },
): Promise<Deployment> {
  const stateDir = opts.stateDir ?? dirname(opts.imageCache);
  const skills = embeddedSkills(opts.registry ?? loadRegistry({ env: io.env }));
  const wantsModel = skills.some(
    (s) => s.embedded !== false && Object.values(s.embedded.env).some((v) => v.includes('{draftModel}')),
  );
  const model = wantsModel ? await embeddedModel(io, stateDir) : undefined;
  await mkdir(opts.imageCache, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), 'sarai-embedded-'));
  const base = { ...io.env, HOST: '127.0.0.1', METRICS_PORT: '-1', LOG_LEVEL: io.env['LOG_LEVEL'] || 'warn' };
  const planned: { entry: SkillEntry; port: number; metricsPort: number; env: NodeJS.ProcessEnv }[] = [];
  for (const entry of skills) {
    if (entry.embedded === false) continue;
    const port = await freePort();
    const metricsPort = opts.metrics ? await freePort() : -1;
    const dir = join(tmp, entry.name);
    await mkdir(dir, { recursive: true });
    const values: Placeholders = {
      state: stateDir,
      imageCache: opts.imageCache,
      tmp: dir,
      ...(model ? { draftModel: model.path } : {}),
    };
    const env = {
      ...base,
      ...entry.env,
      ...resolveEnv(entry, entry.embedded.env, values),
      SKILL_NAME: entry.name,
    };
    planned.push({
      entry,
      port,
      metricsPort,
      env: { ...env, PORT: String(port), METRICS_PORT: String(metricsPort) },
    });
  }
  opts.say(
    `starting embedded skills on ${planned.map((p) => `127.0.0.1:${p.port} (${p.entry.name})`).join(', ')}...\n`,
  );
  for (const p of planned)
    if (p.entry.embedded !== false && p.entry.embedded.notice) opts.say(`note: ${p.entry.embedded.notice}\n`);
  const children: Child[] = [];
  const addresses: Record<string, string> = {};
  try {
    for (const p of planned) {
      children.push(start(p.entry.name, skillMain(p.entry.package as string), p.env));
      addresses[p.entry.name] = `127.0.0.1:${p.port}`;
    }
    await Promise.all(
      planned.map((p, i) =>
        waitServing(
          children[i] as Child,
          addresses[p.entry.name] as string,
          p.entry.embedded === false ? 60_000 : p.entry.embedded.startTimeoutMs,
        ),
      ),
    );
  } catch (e) {
    await Promise.all(children.map(stopChild));
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return {
    embedded: true,
    standIn: model?.standIn ?? false,
    ...(model ? { standInModel: model.path } : {}),
    addresses,
    skills: planned.map((p) => p.entry.name),
    ...(opts.metrics
      ? {
          metricsAddresses: Object.fromEntries(
            planned.map((p) => [p.entry.name, `127.0.0.1:${p.metricsPort}`]),
          ),
        }
      : {}),
    skillPids: () => children.map((c) => c.proc.pid ?? 0).filter((p) => p > 0),
    stop: async () => {
      await Promise.all(children.map(stopChild));
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
