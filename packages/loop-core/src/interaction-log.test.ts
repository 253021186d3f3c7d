import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InteractionRecordSchema, type InteractionRecord } from '@sarai/formats';
import { afterAll, describe, expect, it } from 'vitest';
import { appendInteraction } from './audit.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function record(prompt: string): InteractionRecord {
  return InteractionRecordSchema.parse({
    v: 1,
    ts: '2026-11-30T10:00:00.000Z',
    prompt,
    iterations: [],
    final: 'answer',
    autoCorrected: false,
    checkersPassed: true,
    hadCheckers: false,
  });
}

describe('appendInteraction after a crash mid-append', () => {
  it('seals a torn last line so the next record stays a whole line of its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sarai-interactions-'));
    dirs.push(dir);
    const path = join(dir, 'interactions.jsonl');
    await appendInteraction(path, record('one'));
    await appendFile(path, '{"v":1,"ts":"2026-11-30T10:00:00.000Z","prom'); // torn by a crash
    await appendInteraction(path, record('two'));
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
    expect(JSON.parse(lines[0] as string)).toMatchObject({ prompt: 'one' });
    expect(() => JSON.parse(lines[1] as string)).toThrow();
    expect(JSON.parse(lines[2] as string)).toMatchObject({ prompt: 'two' });
  });
});
