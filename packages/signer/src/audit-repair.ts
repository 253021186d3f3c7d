import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { verifyAuditLog, type AuditVerifyReport } from './audit-log.js';
import { withFileLock, type FileLockOptions } from './file-lock.js';
import { SignerError, errorMessage } from './signer-error.js';

/** What {@link repairAuditLog} did. */
export interface AuditRepairReport {
  /** False when the log needed no repair (it verified and ends with a newline). */
  readonly repaired: boolean;
  /** The torn tail that was cut: its 1-based line and size; null when nothing was removed. */
  readonly removed: { readonly line: number; readonly bytes: number } | null;
  /** A complete last record that only lacked its newline, kept and terminated. */
  readonly terminated: boolean;
  /** Where the removed bytes were saved (`<log>.torn-<ISO time>`), for inspection; null when nothing was removed. */
  readonly savedTo: string | null;
  /** The verification of the repaired log (always ok). */
  readonly report: AuditVerifyReport;
}

export interface RepairAuditOptions extends FileLockOptions {
  logger?: Logger;
  /** Time used in the name of the file that keeps the removed bytes (default now). */
  date?: Date;
}

/**
 * Repairs the only damage a crash can leave in an audit log — a torn last record — and nothing else, under the same
 * lock as appends: the bytes after the last newline (or a malformed last line) are cut and saved next to the log,
 * fsynced; a complete, correctly chained last record that only lacks its newline is kept and terminated. Every
 * record before it must verify: anything else (an edited, deleted or reordered record) is tampering, not a crash,
 * and is refused with SIGNER_AUDIT_CORRUPT naming the problems — restore that log from a backup instead.
 * A torn record was never acknowledged: appendAudit resolves only after the whole line is written and fsynced.
 */
export async function repairAuditLog(
  path: string,
  options: RepairAuditOptions = {},
): Promise<AuditRepairReport> {
  return withFileLock(
    path,
    async () => {
      let content: Buffer;
      try {
        content = await readFile(path);
      } catch (cause) {
        throw new SignerError('SIGNER_AUDIT_IO', `cannot read audit log ${path}: ${errorMessage(cause)}`, {
          cause,
        });
      }
      const endsWithNewline = content.length === 0 || content[content.length - 1] === 0x0a;
      const full = await verifyAuditLog(path);
      if (full.ok && endsWithNewline) {
        return { repaired: false, removed: null, terminated: false, savedTo: null, report: full };
      }
      if (full.ok && !endsWithNewline) {
        // The whole record is there and chains: only its newline is missing. Keep it.
        await appendBytes(path, Buffer.from('\n'));
        const report = await verifyAuditLog(path);
        options.logger?.warn(
          { event: 'audit-repaired', terminated: true },
          'audit log: last record terminated',
        );
        return { repaired: true, removed: null, terminated: true, savedTo: null, report };
      }
      // Cut the last line (torn: after the last newline; or the last complete line when it is malformed).
      const searchEnd = endsWithNewline ? content.length - 2 : content.length - 1;
      const cut = searchEnd < 0 ? 0 : content.lastIndexOf(0x0a, searchEnd) + 1;
      const kept = content.subarray(0, cut);
      const tail = content.subarray(cut);
      const line = kept.length === 0 ? 1 : countNewlines(kept) + 1;
      const onlyTail = full.problems.every((p) => p.line === line && p.kind === 'malformed');
      const probe = join(dirname(path), `.${basename(path)}.repair-${process.pid}`);
      let prefix: AuditVerifyReport;
      try {
        await writeFile(probe, kept);
        prefix = await verifyAuditLog(probe);
      } finally {
        await rm(probe, { force: true });
      }
      if (!onlyTail || !prefix.ok) {
        const problems = full.problems.map((p) => p.message).join('; ');
        throw new SignerError(
          'SIGNER_AUDIT_CORRUPT',
          `${path} is damaged beyond a torn last record (${problems}): not repaired; restore it from a backup`,
        );
      }
      const savedTo = `${path}.torn-${(options.date ?? new Date()).toISOString().replace(/[:.]/g, '-')}`;
      await writeFile(savedTo, tail, { mode: 0o640 });
      const fh = await open(path, 'r+');
      try {
        await fh.truncate(cut);
        await fh.sync();
      } finally {
        await fh.close();
      }
      const report = await verifyAuditLog(path);
      options.logger?.warn(
        { event: 'audit-repaired', line, bytes: tail.length, savedTo },
        'audit log: torn last record removed',
      );
      return { repaired: true, removed: { line, bytes: tail.length }, terminated: false, savedTo, report };
    },
    options,
  );
}

function countNewlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

async function appendBytes(path: string, data: Buffer): Promise<void> {
  const fh = await open(path, 'a');
  try {
    await fh.write(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
