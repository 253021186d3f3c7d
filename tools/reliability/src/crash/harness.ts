import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '@sarai/formats';
import { CrashCheckError } from './errors.js';
import type { ChildEvent, CheckNotes, CrashWriter, WriterHistory } from './protocol.js';

// The child always runs from dist (built by the test target's dependencies), also when vitest loads this from src.
const CHILD = fileURLToPath(
  new URL(import.meta.url.includes('/src/') ? '../../dist/crash/child.js' : './child.js', import.meta.url),
);
/** Check counters that describe the state after the last point (not summed). */
const GAUGES = new Set(['verified', 'records', 'published', 'tornSealed']);

export interface CrashRunOptions {
  /** Kill points (children killed with SIGKILL at a random moment of their write loop). */
  points: number;
  seed?: number;
  /** Every `tearEvery`-th point also leaves a torn tail (writers that support it), then recovers it. Default 4. */
  tearEvery?: number;
  /** Working directory (default a temp dir, removed afterwards). */
  dir?: string;
  onPoint?: (point: number, writer: string) => void;
}

export interface CrashReport {
  writer: string;
  /** Kill points survived (every check passed after each). */
  points: number;
  /** Kills that landed inside a write (a `begin` without its `ack`). */
  killedMidWrite: number;
  /** Writes acknowledged to the caller over the whole run, and how many of them were lost (always 0, or it throws). */
  acknowledged: number;
  lost: 0;
  /** Torn tails left on purpose (see CrashWriter.check). */
  tornInjected: number;
  /** The writer's check counters: events summed over all points, state (verified, records, published) at the end. */
  notes: CheckNotes;
}

/** Runs one writer through `points` kill -9 points; throws CrashCheckError at the first violated guarantee. */
export async function runCrashPoints(writer: CrashWriter, options: CrashRunOptions): Promise<CrashReport> {
  const rng = mulberry32(options.seed ?? 15);
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), `sarai-crash-${writer.name}-`)));
  const tearEvery = options.tearEvery ?? 4;
  const history: WriterHistory = { acked: new Map(), inflight: new Set() };
  const notes: CheckNotes = {};
  let killedMidWrite = 0;
  let tornInjected = 0;
  try {
    const setup = await writer.prepare(dir);
    const setupFile = join(dir, 'setup.json');
    await writeFile(setupFile, JSON.stringify(setup), { mode: 0o600 });
    for (let point = 1; point <= options.points; point++) {
      options.onPoint?.(point, writer.name);
      const delay = Math.floor(rng() * writer.maxDelayMs);
      const inflight = await killOnce(writer, dir, setupFile, point, delay, history);
      if (inflight) killedMidWrite += 1;
      const tear = writer.tears && tearEvery > 0 && point % tearEvery === 0;
      const n = await writer.check(dir, setup, history, tear);
      if (tear) tornInjected += 1;
      for (const [k, v] of Object.entries(n)) notes[k] = GAUGES.has(k) ? v : (notes[k] ?? 0) + v;
    }
    return {
      writer: writer.name,
      points: options.points,
      killedMidWrite,
      acknowledged: history.acked.size,
      lost: 0,
      tornInjected,
      notes,
    };
  } finally {
    if (!options.dir) await rm(dir, { recursive: true, force: true });
  }
}

/** Starts a child, kills it `delayMs` after it is ready; returns whether a write was in flight. */
async function killOnce(
  writer: CrashWriter,
  dir: string,
  setupFile: string,
  seed: number,
  delayMs: number,
  history: WriterHistory,
): Promise<boolean> {
  const child = spawn(process.execPath, [CHILD, writer.name, dir, setupFile, String(seed)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let open: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const ev = JSON.parse(line) as ChildEvent;
    if (ev.k === 'ready') timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    else if (ev.k === 'begin') open = ev.id;
    else if (ev.k === 'ack') {
      history.acked.set(ev.id, ev.data ?? {});
      history.inflight.delete(ev.id);
      open = null;
    }
  }
  const code = await exited;
  clearTimeout(timer);
  if (timer === undefined || code !== null) {
    throw new CrashCheckError(
      writer.name,
      `child exited (${code}) before it was killed: ${stderr.trim()}`,
      'RELIABILITY_CHILD_FAILED',
    );
  }
  if (open !== null) history.inflight.add(open);
  return open !== null;
}
