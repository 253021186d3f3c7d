import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InteractionOutcomeSchema as InteractionRecordSchema } from '@sarai/formats';
import { buildDataset, parseInteractionLog, readInteractionLog } from './dataset.js';
import { loopRecord, toyInteractionLog } from './test-support/fixtures.js';

const jsonl = (...records: unknown[]): string => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('interaction log parsing', () => {
  it('accepts records exactly as loop-core writes them (extra fields ignored)', () => {
    const parsed = InteractionRecordSchema.parse(loopRecord('Q?', 'A.'));
    expect(parsed).toMatchObject({ prompt: 'Q?', final: 'A.', checkersPassed: true, autoCorrected: false });
    expect(parsed.iterations[1]).toEqual({
      iteration: 1,
      response: 'A.',
      confidence: 0.9,
      corrected: false,
      checks: [{ checker: 'json', pass: true, feedback: '' }],
    });
  });

  it('counts and skips malformed lines with their line numbers and a reason that never quotes the content', () => {
    const secret = 'my password is hunter2';
    const text = [
      JSON.stringify(loopRecord('ok', 'fine')),
      `{"prompt": "${secret}"`, // truncated JSON
      '',
      JSON.stringify({ ...loopRecord(secret, 'x'), iterations: [{ iteration: -1 }] }),
      JSON.stringify({ ...loopRecord('q', 'a'), ts: 'not a date' }),
      'null',
      '[1,2,3]',
      '\u0000\u0001binary\uffff',
      JSON.stringify(loopRecord('ok2', 'fine2')),
    ].join('\n');
    const log = parseInteractionLog(text);
    expect(log.records.map((r) => r.prompt)).toEqual(['ok', 'ok2']);
    expect(log.lines).toBe(8);
    expect(log.malformed).toBe(6);
    expect(log.malformedLines.map((m) => m.line)).toEqual([2, 4, 5, 6, 7, 8]);
    expect(log.malformedLines[0]?.reason).toBe('not valid JSON');
    expect(log.malformedLines[1]?.reason).toMatch(/^schema: iterations\.0\./);
    expect(log.malformedLines[2]?.reason).toMatch(/^schema: ts:/);
    expect(JSON.stringify(log.malformedLines)).not.toContain('hunter2');
  });

  it('reads a missing log as empty, and a log file line by line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sarai-lora-log-'));
    try {
      expect(await readInteractionLog(join(dir, 'absent.jsonl'))).toMatchObject({
        records: [],
        lines: 0,
        malformed: 0,
      });
      const path = join(dir, 'log.jsonl');
      await writeFile(path, toyInteractionLog(6));
      const log = await readInteractionLog(path);
      expect(log).toMatchObject({ lines: 9, malformed: 2 });
      expect(log.records).toHaveLength(7);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('buildDataset', () => {
  it('keeps runs that passed their checkers or were corrected, newest answer per prompt', () => {
    const log = parseInteractionLog(
      jsonl(
        loopRecord('Capital of France?', 'Paris.', { passed: true }),
        loopRecord('2+2?', '4', { passed: false, corrected: true }),
        loopRecord('Unimproved?', 'meh', { passed: false, corrected: false }),
        loopRecord('  Capital   of France? ', 'Paris, France.', { ts: '2026-11-25T10:00:00Z' }),
        loopRecord('Capital of France?', 'Lyon.', { ts: '2026-11-20T10:00:00Z' }),
        loopRecord('   ', 'empty prompt'),
        loopRecord('empty answer', '  '),
      ),
    );
    const ds = buildDataset(log, { evalFraction: 0 });
    const pairs = [...ds.train, ...ds.eval].map((e) => [e.prompt, e.answer]);
    expect(pairs).toEqual(
      expect.arrayContaining([
        ['Capital   of France?', 'Paris, France.'],
        ['2+2?', '4'],
      ]),
    );
    expect(pairs).toHaveLength(2);
    expect(ds.stats).toMatchObject({ records: 7, eligible: 6, notImproved: 1, empty: 2, duplicates: 2 });
  });

  it('holds out an eval split by prompt hash: deterministic, independent of log order, never empty from 2 pairs', () => {
    const records = Array.from({ length: 200 }, (_, i) => loopRecord(`question ${i}`, `answer ${i}`));
    const a = buildDataset(parseInteractionLog(jsonl(...records)), { evalFraction: 0.1 });
    const b = buildDataset(parseInteractionLog(jsonl(...records.reverse())), { evalFraction: 0.1 });
    expect(a.sha256).toBe(b.sha256);
    expect(a.eval.map((e) => e.id)).toEqual(b.eval.map((e) => e.id));
    expect(a.eval.length).toBeGreaterThan(8);
    expect(a.eval.length).toBeLessThan(35);
    expect(a.train.length + a.eval.length).toBe(200);
    const evalPrompts = new Set(a.eval.map((e) => e.prompt));
    expect(a.train.filter((e) => evalPrompts.has(e.prompt))).toEqual([]);

    const two = buildDataset(parseInteractionLog(jsonl(loopRecord('a', 'b'), loopRecord('c', 'd'))));
    expect([two.train.length, two.eval.length, two.stats.evalHeldOut]).toEqual([1, 1, true]);
    const one = buildDataset(parseInteractionLog(jsonl(loopRecord('a', 'b'))));
    expect([one.train.length, one.eval.length, one.stats.evalHeldOut]).toEqual([1, 0, false]);
  });

  it('hashes the canonical JSONL: the same pairs give the same sha256, a changed answer a different one', () => {
    const base = buildDataset(parseInteractionLog(toyInteractionLog(10)));
    expect(base.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(base.jsonl.trim().split('\n')).toHaveLength(10);
    for (const line of base.jsonl.trim().split('\n'))
      expect(Object.keys(JSON.parse(line))).toEqual(['id', 'split', 'prompt', 'answer']);
    expect(buildDataset(parseInteractionLog(toyInteractionLog(10))).sha256).toBe(base.sha256);
    const changed = toyInteractionLog(10).replaceAll('Item 3 is amber.', 'Item 3 is teal.');
    expect(buildDataset(parseInteractionLog(changed)).sha256).not.toBe(base.sha256);
  });

  it('rejects an out-of-range eval fraction', () => {
    expect(() => buildDataset(parseInteractionLog(''), { evalFraction: 1 })).toThrow(
      expect.objectContaining({ code: 'TRAINER_INVALID_OPTIONS' }),
    );
  });
});

describe('a large log', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-lora-biglog-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('streams 20k records without holding the text twice, and survives an over-long line', async () => {
    const path = join(dir, 'big.jsonl');
    const line = JSON.stringify(loopRecord('q', 'a'));
    await writeFile(
      path,
      Array.from({ length: 20_000 }, () => line).join('\n') + '\n' + 'x'.repeat(5 * 1024 * 1024) + '\n',
    );
    const log = await readInteractionLog(path);
    expect(log.records).toHaveLength(20_000);
    expect(log.malformedLines).toEqual([{ line: 20_001, reason: 'line longer than 4194304 bytes' }]);
  });
});
