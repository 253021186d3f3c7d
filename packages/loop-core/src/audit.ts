import {
  appendAudit,
  splitSignedPrompt,
  verifyAuditLog,
  withFileLock,
  type AuditVerifyReport,
  type FileLockOptions,
  type PromptSigner,
  type TrustedKeys,
} from '@sarai/signer';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256Text, type InteractionRecord } from '@sarai/formats';

/** Signs a reflection prompt and appends it to the audit log; resolves only once the record is written. */
export interface ReflectionSigner {
  signAndRecord(prompt: string): Promise<{ signature: string; fingerprint: string; signedPrompt?: string }>;
}

/**
 * The loop's signer: signs the exact reflection prompt (seed format) with @sarai/signer and appends it to the
 * tamper-evident audit log before returning — the loop sends the prompt only after this resolves.
 */
export function createReflectionSigner(signer: PromptSigner, auditLogPath: string): ReflectionSigner {
  return {
    async signAndRecord(prompt) {
      const signedPrompt = await signer.signPrompt(prompt);
      await mkdir(dirname(auditLogPath), { recursive: true });
      await appendAudit(auditLogPath, signedPrompt, { fingerprint: signer.fingerprint });
      const parts = splitSignedPrompt(signedPrompt);
      return { signature: parts?.signature ?? '', fingerprint: signer.fingerprint, signedPrompt };
    },
  };
}

/**
 * Appends one interaction-log record (@sarai/formats' `InteractionRecordSchema`, the LoRA trainer's input) under a
 * cross-process lock (whole lines only, never interleaved) and fsyncs it before resolving: a record acknowledged to
 * the caller survives a crash of the process (and of the machine). A torn last line left by a crash mid-append is
 * sealed with a newline first, so it stays one malformed line (skipped and counted by the trainer) and never swallows
 * the record appended after it.
 */
export async function appendInteraction(
  path: string,
  record: InteractionRecord,
  options: FileLockOptions = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const line = Buffer.from(JSON.stringify(record) + '\n', 'utf8');
  await withFileLock(
    path,
    async () => {
      const fh = await open(path, 'a+', 0o600);
      try {
        const { size } = await fh.stat();
        let data = line;
        if (size > 0) {
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) data = Buffer.concat([Buffer.from('\n'), line]);
        }
        let offset = 0;
        while (offset < data.length) {
          const { bytesWritten } = await fh.write(data, offset, data.length - offset, null);
          offset += bytesWritten;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
    },
    options,
  );
}

/**
 * Verifies an audit log; with trusted keys and the interaction log, also verifies each record's signature over the
 * exact reflection prompt it stands for.
 */
export async function verifyLoopAudit(
  auditLogPath: string,
  opts: { trusted?: TrustedKeys; interactionLogPath?: string } = {},
): Promise<AuditVerifyReport> {
  const prompts = new Map<string, string>();
  if (opts.interactionLogPath) {
    const text = await readFile(opts.interactionLogPath, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as Partial<InteractionRecord>;
        for (const it of rec.iterations ?? []) {
          if (typeof it.signedPrompt === 'string') {
            prompts.set(sha256Text(it.signedPrompt), it.signedPrompt);
          }
        }
      } catch {
        // a malformed line resolves nothing; the audit log's own chain is still verified
      }
    }
  }
  return verifyAuditLog(auditLogPath, {
    ...(opts.trusted ? { trusted: opts.trusted } : {}),
    ...(opts.interactionLogPath ? { resolvePrompt: (sha: string) => prompts.get(sha) } : {}),
  });
}
