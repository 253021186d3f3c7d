import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { boundedLines, type BoundedLine } from './bounded-lines.js';
import { MAX_LINE_CHARS, readInteractionLog } from './dataset.js';
import { loopRecord } from './test-support/fixtures.js';

async function lines(chunks: string[], max: number): Promise<BoundedLine[]> {
  const out: BoundedLine[] = [];
  for await (const l of boundedLines(Readable.from(chunks.map((c) => Buffer.from(c))), max)) out.push(l);
  return out;
}

describe('boundedLines', () => {
  it('splits across chunks, drops \\r, reports an oversize line by length only', async () => {
    expect(await lines(['ab', 'c\r\nde', 'f\n', 'x'.repeat(7), 'yy\nlast'], 5)).toEqual([
      { text: 'abc' },
      { text: 'def' },
      { tooLong: 9 },
      { text: 'last' },
    ]);
  });

  it('an oversize last line without a newline is still reported', async () => {
    expect(await lines(['ok\n', 'z'.repeat(10)], 4)).toEqual([{ text: 'ok' }, { tooLong: 10 }]);
  });
});

describe('readInteractionLog with a huge line', () => {
  it('skips a line over the bound unread, counts it malformed, keeps the records around it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sarai-bounded-'));
    try {
      const path = join(dir, 'interactions.jsonl');
      const rec = JSON.stringify(loopRecord('q', 'a'));
      await writeFile(path, `${rec}\n${'{'.repeat(MAX_LINE_CHARS + 10)}\n${rec}\n`);
      const log = await readInteractionLog(path);
      expect(log.records).toHaveLength(2);
      expect(log.malformed).toBe(1);
      expect(log.malformedLines).toEqual([{ line: 2, reason: `line longer than ${MAX_LINE_CHARS} bytes` }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
