import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort } from '@sarai/formats';
import { connectSkill, grpcHealthV1 } from '@sarai/proto';
import { CrashCheckError } from './crash/errors.js';

const require = createRequire(import.meta.url);

/** dist/main.js of a skill package (its container entry point). */
export function skillMain(pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'dist', 'main.js');
}

/** A skill running as its own process (dist/main.js), as in the container. */
export interface SkillProcess {
  readonly name: string;
  readonly address: string;
  readonly child: ChildProcess;
  /** Resident set size now, MiB (from /proc). */
  rssMb(): number;
  /** Peak resident set size since start, MiB (VmHWM). */
  peakRssMb(): number;
  /** True while the process runs. */
  alive(): boolean;
  /** Last lines of stderr (for failure messages). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Resident set size of a process in MiB (VmRSS from /proc; `VmHWM` = its peak), 0 when it is gone. */
export function rssMbOf(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  if (pid === undefined) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Starts `pkg`'s dist/main.js on a free loopback port and waits until its whole-server health is SERVING. */
export async function startSkillProcess(
  name: string,
  pkg: string,
  env: Record<string, string>,
  opts: { startTimeoutMs?: number } = {},
): Promise<SkillProcess> {
  // A fixed PORT in env (a restart on the same address) wins over a fresh free port.
  const port = env['PORT'] ? Number(env['PORT']) : await freePort();
  const child = spawn(process.execPath, [skillMain(pkg)], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: '-1',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // The start of stderr (where a fatal error is printed) and its latest lines.
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err =
      err.length < 3000
        ? err + d.toString()
        : `${err.slice(0, 3000)}\n…\n${(err.slice(3000) + d.toString()).slice(-1000)}`;
  });
  const exited = reapOnExit(child);
  const address = `127.0.0.1:${port}`;
  const conn = connectSkill(address);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exited())
        throw new CrashCheckError(name, `exited before serving: ${err.trim()}`, 'RELIABILITY_CHILD_FAILED');
      const ok = await conn.grpcHealth
        .check({ service: '' }, { timeout: 1000 })
        .response.then((r) => r.status === grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new CrashCheckError(
          name,
          `not SERVING within the start timeout: ${err.trim()}`,
          'RELIABILITY_CHILD_FAILED',
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    conn.close();
  }
  return processHandle({ name, address, child, exited, stderr: () => err, graceMs: 15_000 });
}

/**
 * Makes sure `child` never outlives this process (a harness killed or crashing mid-run leaves no orphan: SIGKILL on
 * exit); returns whether the child has exited.
 */
export function reapOnExit(child: ChildProcess): () => boolean {
  let exited = false;
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => {
    exited = true;
    process.removeListener('exit', reap);
  });
  return () => exited;
}

/**
 * The {@link SkillProcess} handle of a started child: RSS and peak from /proc, liveness, the stderr tail, and `stop`
 * (SIGTERM, SIGKILL after `graceMs`).
 */
export function processHandle(o: {
  name: string;
  address: string;
  child: ChildProcess;
  exited: () => boolean;
  stderr: () => string;
  graceMs: number;
}): SkillProcess {
  const { child } = o;
  return {
    name: o.name,
    address: o.address,
    child,
    rssMb: () => rssMbOf(child.pid),
    peakRssMb: () => rssMbOf(child.pid, 'VmHWM'),
    alive: () => !o.exited(),
    stderr: o.stderr,
    async stop() {
      if (o.exited()) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), o.graceMs);
      await done;
      clearTimeout(t);
    },
  };
}
