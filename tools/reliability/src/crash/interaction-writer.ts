import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InteractionRecordSchema } from '@sarai/formats';
import { appendInteraction } from '@sarai/loop-core';
import { readInteractionLog } from '@sarai/lora-trainer';
import { CrashCheckError } from './errors.js';
import { emit, type CrashWriter } from './protocol.js';
import { removeStaleLock } from './stale-lock.js';

const LOG = 'interactions.jsonl';

/** Loop interaction records appended to the interaction log (@sarai/loop-core appendInteraction). */
export const interactionWriter: CrashWriter = {
  name: 'interaction-log',
  maxDelayMs: 60,
  tears: true,
  async prepare() {
    return {};
  },
  async run(dir, _setup, seed) {
    emit({ k: 'ready' });
    for (let i = 0; ; i++) {
      const id = `${seed}-${i}`;
      const record = InteractionRecordSchema.parse({
        v: 1,
        ts: new Date().toISOString(),
        prompt: `question ${id}`,
        iterations: [],
        final: `answer ${id} ${'x'.repeat(i % 300)}`,
        autoCorrected: false,
        checkersPassed: true,
        hadCheckers: false,
      });
      emit({ k: 'begin', id });
      await appendInteraction(join(dir, LOG), record);
      emit({ k: 'ack', id });
    }
  },
  async check(dir, _setup, history, tear) {
    const path = join(dir, LOG);
    const notes = { records: 0, tornSealed: 0, staleLocks: await removeStaleLock(path) };
    const text = await readFile(path, 'utf8').catch(() => '');
    if (tear && text.length > 0) {
      const last = text.trimEnd().split('\n').at(-1) as string;
      await appendFile(path, last.slice(0, 1 + (last.length % 120)));
    }
    const seen = new Map<string, number>();
    const lines = (await readFile(path, 'utf8').catch(() => '')).split('\n');
    let malformed = 0;
    for (const line of lines) {
      if (line === '') continue;
      try {
        const r = InteractionRecordSchema.parse(JSON.parse(line));
        const id = r.prompt.replace(/^question /, '');
        seen.set(id, (seen.get(id) ?? 0) + 1);
      } catch {
        malformed += 1;
      }
    }
    for (const id of history.acked.keys()) {
      if (seen.get(id) !== 1) {
        throw new CrashCheckError(
          'interaction-log',
          `acknowledged record ${id} appears ${seen.get(id) ?? 0} times`,
        );
      }
    }
    // The trainer's reader agrees: every line it counts as a record, minus the sealed torn ones.
    const parsed = await readInteractionLog(path);
    if (parsed.records.length < history.acked.size || parsed.malformed !== malformed) {
      throw new CrashCheckError(
        'interaction-log',
        `the trainer reads ${parsed.records.length} records and ${parsed.malformed} malformed lines; ${history.acked.size} were acknowledged, ${malformed} lines are torn`,
      );
    }
    notes.records = seen.size;
    notes.tornSealed = malformed;
    return notes;
  },
};
