import { writeSync } from 'node:fs';

/** One line a crash child prints on stdout: `ready` once set up, `begin` before a write, `ack` once it returned. */
export type ChildEvent =
  { k: 'ready' } | { k: 'begin'; id: string } | { k: 'ack'; id: string; data?: Record<string, unknown> };

/** Prints an event synchronously: once `ack` is in the pipe, the parent sees it even after a kill -9. */
export function emit(event: ChildEvent): void {
  writeSync(1, `${JSON.stringify(event)}\n`);
}

/** What the parent knows of one writer's history across all kill points. */
export interface WriterHistory {
  /** Acknowledged writes: id → what the writer returned. */
  readonly acked: Map<string, Record<string, unknown>>;
  /** Writes begun and never acknowledged (the kill landed inside them). */
  readonly inflight: Set<string>;
}

/** Per-writer setup shared by the parent (prepare/check) and the children (write loop). */
export type Setup = Record<string, string>;

/** A writer under test. `prepare` and `check` run in the parent; `run` in a child that is killed at random. */
export interface CrashWriter {
  readonly name: string;
  /** Longest random delay after `ready` before the kill (ms): a few writes per point. */
  readonly maxDelayMs: number;
  /** Whether `check` can leave a torn tail on purpose (append-only logs). */
  readonly tears: boolean;
  prepare(dir: string): Promise<Setup>;
  run(dir: string, setup: Setup, seed: number): Promise<never>;
  /**
   * After a kill: restart-side checks (throws on a violation: partial entry served, acknowledged record lost,
   * unverifiable adapter in use). `tear` asks the writer to also leave a torn tail as a crash mid-write would
   * (where a kill -9 cannot produce one: writes of one syscall are not torn by a signal) and to recover it.
   */
  check(dir: string, setup: Setup, history: WriterHistory, tear: boolean): Promise<CheckNotes>;
}

/** Counters a check reports (summed over points). */
export type CheckNotes = Record<string, number>;
