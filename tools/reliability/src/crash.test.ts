// Crash consistency (issue 15), short version: SARAI_CRASH_POINTS (default 20) kill -9 points per writer.
// The full run (200 points per writer): `nx run @sarai/reliability:crash`.
import { describe, expect, it } from 'vitest';
import { runCrashPoints } from './crash/harness.js';
import { CRASH_WRITERS, loadWriter } from './crash/writers.js';

const POINTS = Number(process.env['SARAI_CRASH_POINTS'] ?? 20);

describe('kill -9 at random points while writing', () => {
  it.each(CRASH_WRITERS)('%s: no partial entry served, no acknowledged record lost', async (name) => {
    const writer = await loadWriter(name);
    if (!writer) throw new Error(`no writer ${name}`);
    const report = await runCrashPoints(writer, { points: POINTS, seed: 20 });
    console.log(`${name}: ${JSON.stringify(report)}`);
    expect(report.points).toBe(POINTS);
    expect(report.lost).toBe(0);
    expect(report.acknowledged).toBeGreaterThan(0);
    // Kills land inside writes (the writers write back to back), not only between them.
    expect(report.killedMidWrite).toBeGreaterThanOrEqual(POINTS / 4);
  });
});
