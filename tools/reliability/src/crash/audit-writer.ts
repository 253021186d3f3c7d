import { appendFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  PromptSigner,
  appendAudit,
  generateSigningKeyPair,
  repairAuditLog,
  verifyAuditLog,
} from '@sarai/signer';
import { emit, type CrashWriter } from './protocol.js';
import { CrashCheckError } from './errors.js';
import { removeStaleLock } from './stale-lock.js';

const LOG = 'audit.jsonl';

/** Signed reflection prompts appended to the hash-chained audit log (@sarai/signer appendAudit). */
export const auditWriter: CrashWriter = {
  name: 'audit-log',
  maxDelayMs: 120,
  tears: true,
  async prepare() {
    const pair = await generateSigningKeyPair({ name: 'crash test', email: 'crash@localhost' });
    return { privateKey: pair.privateKeyArmored };
  },
  async run(dir, setup, seed) {
    const signer = await PromptSigner.fromKey(setup['privateKey'] as string);
    emit({ k: 'ready' });
    for (let i = 0; ; i++) {
      const id = `${seed}-${i}`;
      // One write = what the loop's reflection signer does: sign the prompt, then append its record.
      emit({ k: 'begin', id });
      const signed = await signer.signPrompt(`reflect on answer ${id}`);
      const rec = await appendAudit(join(dir, LOG), signed, { fingerprint: signer.fingerprint });
      emit({ k: 'ack', id, data: { seq: rec.seq, hash: rec.hash } });
    }
  },
  async check(dir, _setup, history, tear) {
    const path = join(dir, LOG);
    const notes = { verified: 0, tornNamed: 0, repaired: 0, staleLocks: 0 };
    notes.staleLocks += await removeStaleLock(path);
    const text = await readFile(path, 'utf8').catch(() => '');
    if (tear && text.length > 0) {
      // What a crash inside a multi-syscall write would leave: the start of a next record, no newline.
      const last = text.trimEnd().split('\n').at(-1) as string;
      await appendFile(path, last.slice(0, 1 + (last.length % 150)));
    }
    let report = await verifyAuditLog(path).catch(() => null);
    if (report === null) return notes; // nothing written yet
    if (!report.ok) {
      const lines = (await readFile(path, 'utf8')).split('\n').length;
      const torn =
        report.problems.length === 1 &&
        report.problems[0]?.kind === 'malformed' &&
        report.problems[0].line === lines;
      if (!torn)
        throw new CrashCheckError(
          'audit-log',
          `the chain does not verify: ${JSON.stringify(report.problems)}`,
        );
      notes.tornNamed += 1;
      const repaired = await repairAuditLog(path);
      if (!repaired.report.ok)
        throw new CrashCheckError('audit-log', 'repair left a log that does not verify');
      notes.repaired += 1;
      await rm(repaired.savedTo ?? '', { force: true });
      report = repaired.report;
    }
    const records = new Map<number, string>();
    for (const line of (await readFile(path, 'utf8')).split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as { seq: number; hash: string };
      records.set(r.seq, r.hash);
    }
    for (const [id, ack] of history.acked) {
      if (records.get(ack['seq'] as number) !== ack['hash']) {
        throw new CrashCheckError(
          'audit-log',
          `acknowledged record ${id} (seq ${String(ack['seq'])}) is lost`,
        );
      }
    }
    notes.verified = report.records;
    return notes;
  },
};
