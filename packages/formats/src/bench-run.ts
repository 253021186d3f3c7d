import { execFile, type ChildProcess } from 'node:child_process';
import { renameSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** Schema id of `<package>/bench-results.json` (one file per package, rewritten by every run, not committed). */
export const BENCH_RESULTS_SCHEMA_ID = 'sarai.bench-results/1';

/**
 * `<package>/bench-results.json`: the last run of each bench target of the package (`bench`, `bench-swap`, ...),
 * for comparing runs. A run replaces only its own entry.
 */
export interface BenchResults {
  schema: typeof BENCH_RESULTS_SCHEMA_ID;
  package: string;
  runs: Record<string, BenchRunRecord>;
}

/**
 * One bench run: `results` is the bench's own object (the numbers it printed in its table); `ok: false` with
 * `error` when the run failed or was interrupted (then `results` holds whatever was measured before that).
 */
export interface BenchRunRecord {
  ok: boolean;
  error?: string;
  startedAt: string;
  finishedAt: string;
  cores: number;
  /** /proc/loadavg (1, 5, 15 min) at the start and at the end: figures of a loaded machine are noise. */
  loadavg: { start: number[]; end: number[] };
  results: Record<string, unknown>;
}

/** What a bench body gets from {@link runBench}. */
export interface BenchContext {
  /** Logs a line to stderr (stdout carries only the bench's table). */
  log(message: string): void;
  /** The load average now, as "1m 5m 15m". */
  loadavg(): string;
  /** Results recorded so far; also written when the bench fails half-way. */
  readonly results: Record<string, unknown>;
  /** Runs `fn` at the end (success, failure or SIGINT/SIGTERM/SIGHUP), in reverse registration order. */
  onCleanup(fn: () => unknown): void;
  /** Kills `child` (SIGTERM, SIGKILL after 5 s) at the end if it is still running; returns it. */
  track<T extends ChildProcess>(child: T): T;
  /** `docker rm -f <name>` at the end (a container this bench starts; harmless if already gone). */
  trackContainer(name: string): void;
}

/** Options of {@link runBench}. */
export interface BenchRunOptions {
  /** The package directory: `bench-results.json` is written there. */
  packageDir: string;
  /** Which bench of the package (e.g. `bench`, `bench-swap`); default `bench`. */
  bench?: string;
}

const readLoad = (): number[] => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
};

function killTree(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, graceMs);
    timer.unref();
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Runs a bench the same way in every package: the body prints its table through the returned `text` (stdout),
 * logs go to stderr, every registered process/container is cleaned up even when the body throws or the run is
 * interrupted, and `<packageDir>/bench-results.json` is written atomically ({@link BenchResults}). Exits the
 * process: 0 on success, 1 on failure, 128 + signal number on a signal.
 */
export async function runBench(
  options: BenchRunOptions,
  body: (ctx: BenchContext) => Promise<{ text: string; results?: Record<string, unknown> }>,
): Promise<never> {
  const pkg = (() => {
    try {
      return (JSON.parse(readFileSync(join(options.packageDir, 'package.json'), 'utf8')) as { name: string })
        .name;
    } catch {
      return options.packageDir;
    }
  })();
  const startedAt = new Date().toISOString();
  const loadStart = readLoad();
  const cleanups: Array<() => unknown> = [];
  const results: Record<string, unknown> = {};
  const ctx: BenchContext = {
    log: (m) => void process.stderr.write(`bench: ${m}\n`),
    loadavg: () => readLoad().join(' '),
    results,
    onCleanup: (fn) => void cleanups.push(fn),
    track: (child) => {
      cleanups.push(() => killTree(child, 5000));
      return child;
    },
    trackContainer: (name) => {
      cleanups.push(
        () => new Promise<void>((resolve) => execFile('docker', ['rm', '-f', name], () => resolve())),
      );
    },
  };
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        ctx.log(`cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };
  const write = (ok: boolean, error?: string) => {
    const file = join(options.packageDir, 'bench-results.json');
    let runs: Record<string, BenchRunRecord> = {};
    try {
      const old = JSON.parse(readFileSync(file, 'utf8')) as Partial<BenchResults>;
      if (old.schema === BENCH_RESULTS_SCHEMA_ID && old.runs) runs = old.runs;
    } catch {
      /* first run, or an unreadable file: start afresh */
    }
    runs[options.bench ?? 'bench'] = {
      ok,
      ...(error === undefined ? {} : { error }),
      startedAt,
      finishedAt: new Date().toISOString(),
      cores: availableParallelism(),
      loadavg: { start: loadStart, end: readLoad() },
      results,
    };
    const doc: BenchResults = { schema: BENCH_RESULTS_SCHEMA_ID, package: pkg, runs };
    try {
      writeFileSync(`${file}.tmp`, `${JSON.stringify(doc, null, 2)}\n`);
      renameSync(`${file}.tmp`, file);
      ctx.log(`results: ${file}`);
    } catch (e) {
      ctx.log(`could not write ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    ctx.log(`${signal}: cleaning up`);
    void cleanup().finally(() => {
      write(false, `interrupted by ${signal}`);
      process.exit(128 + code);
    });
  };
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGINT', () => onSignal('SIGINT', 2)],
    ['SIGTERM', () => onSignal('SIGTERM', 15)],
    ['SIGHUP', () => onSignal('SIGHUP', 1)],
  ];
  for (const [s, h] of handlers) process.once(s, h);
  try {
    const out = await body(ctx);
    Object.assign(results, out.results ?? {});
    await cleanup();
    write(true);
    process.stdout.write(out.text.endsWith('\n') ? out.text : `${out.text}\n`);
    process.exit(0);
  } catch (e) {
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`bench failed: ${message}\n`);
    await cleanup();
    write(false, e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
