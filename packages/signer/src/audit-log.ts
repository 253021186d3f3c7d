import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as openpgp from 'openpgp';
import type { PublicKey } from 'openpgp';
import type { Logger } from 'pino';
import { z } from 'zod';
import { splitSignedPrompt } from './envelope.js';
import { withFileLock, type FileLockOptions } from './file-lock.js';
import { SignerError, errorMessage } from './signer-error.js';
import { loadTrustedKeys, verifyPrompt, type TrustedKeys } from './verify.js';
import { sha256Text } from '@sarai/formats';

/**
 * Append-only JSONL audit log of signed prompts, hash-chained.
 *
 * One record per line, serialized canonically: `JSON.stringify` of the fields in exactly this order, no spaces:
 *
 *     {"v":1,"seq":0,"ts":"…","promptSha256":"…","fingerprint":"…","signature":"…","prevHash":"…","hash":"…"}
 *
 * - `seq`: 0, 1, 2, … in append order.
 * - `promptSha256`: sha256 (hex) of the whole signed prompt (text + separator + signature block), UTF-8.
 * - `signature`: the armored detached signature of the prompt; `fingerprint`: the signing key's fingerprint
 *   (upper-case hex, the issuer fingerprint carried by the signature unless given).
 * - `hash`: sha256 (hex) of the record's canonical line WITHOUT the `hash` field (the "body");
 * - `prevHash`: the previous record's `hash` — i.e. the hash of the previous record's canonical JSON line (minus
 *   its own derived `hash`); {@link AUDIT_GENESIS_HASH} (64 zeros) for seq 0.
 *
 * Because every record carries both its own hash and a back link, {@link verifyAuditLog} can tell apart:
 * - edited: the line no longer hashes to its `hash` (or is not canonical any more), or it was rewritten with a
 *   recomputed `hash`, which breaks the next record's `prevHash` while the seq numbers stay contiguous;
 * - deleted: a gap in `seq` (or seq 0 missing); truncation of the tail is only visible against `expectHead`;
 * - reordered: intact records whose chain is complete but whose file order is not seq order (minimal set of moved
 *   records, via a longest increasing subsequence);
 * - inserted: a record that is not part of the chain: a second record for an existing `seq` that the chain does not
 *   go through (or a copy of a record), or a record linked to no other record and out of place in the file;
 * - malformed: not JSON / not a record (torn line, empty line, unknown field, …);
 * - bad-signature: with `trusted` keys, the signature is garbled, by an untrusted key, not the record's
 *   fingerprint, or (with `resolvePrompt`) does not verify over the prompt.
 */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);
export const AUDIT_RECORD_VERSION = 1;

const HEX64 = /^[0-9a-f]{64}$/;
const FINGERPRINT = /^(?:[0-9A-F]{40}|[0-9A-F]{64})$/;

const auditRecordSchema = z.strictObject({
  v: z.literal(AUDIT_RECORD_VERSION),
  seq: z.number().int().nonnegative(),
  ts: z.iso.datetime(),
  promptSha256: z.string().regex(HEX64),
  fingerprint: z.string().regex(FINGERPRINT),
  signature: z.string().min(1),
  prevHash: z.string().regex(HEX64),
  hash: z.string().regex(HEX64),
});

export type AuditRecord = z.infer<typeof auditRecordSchema>;
export type AuditRecordBody = Omit<AuditRecord, 'hash'>;

/** Canonical JSON of a record without its `hash` (fixed field order, no whitespace). */
export function canonicalAuditBody(record: AuditRecordBody): string {
  return JSON.stringify({
    v: record.v,
    seq: record.seq,
    ts: record.ts,
    promptSha256: record.promptSha256,
    fingerprint: record.fingerprint,
    signature: record.signature,
    prevHash: record.prevHash,
  });
}

/** `hash` of a record: sha256 hex of {@link canonicalAuditBody}. */
export function auditRecordHash(record: AuditRecordBody): string {
  return sha256Text(canonicalAuditBody(record));
}

/** The canonical line of a record (no trailing newline). */
export function serializeAuditRecord(record: AuditRecord): string {
  return JSON.stringify({
    v: record.v,
    seq: record.seq,
    ts: record.ts,
    promptSha256: record.promptSha256,
    fingerprint: record.fingerprint,
    signature: record.signature,
    prevHash: record.prevHash,
    hash: record.hash,
  });
}

export interface AppendAuditOptions extends FileLockOptions {
  /** Fingerprint to record; default: the issuer fingerprint carried by the signature. */
  fingerprint?: string;
  /** Timestamp of the record (default now). */
  date?: Date;
  logger?: Logger;
}

function normalizeFingerprint(value: string): string | null {
  const fpr = value.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
  return FINGERPRINT.test(fpr) ? fpr : null;
}

/**
 * Appends a record for `signedPrompt` (seed format) and returns it. Safe against concurrent appenders in this
 * process and in other processes: under an exclusive lock it reads the last record, chains to it, appends one line
 * with a single write and fsyncs before releasing. Refuses (SIGNER_AUDIT_CORRUPT) to chain onto a torn or
 * malformed last line.
 */
export async function appendAudit(
  path: string,
  signedPrompt: string,
  options: AppendAuditOptions = {},
): Promise<AuditRecord> {
  const parts = splitSignedPrompt(signedPrompt);
  if (parts === null) {
    throw new SignerError(
      'SIGNER_AUDIT_BAD_PROMPT',
      'the prompt has no "---SIGNATURE---" block: refusing to audit it',
    );
  }
  let issuerFingerprint: string | null = null;
  try {
    const signature = await openpgp.readSignature({ armoredSignature: parts.signature });
    const bytes = signature.packets[0]?.issuerFingerprint;
    if (bytes && bytes.length > 0) issuerFingerprint = Buffer.from(bytes).toString('hex').toUpperCase();
  } catch (cause) {
    throw new SignerError(
      'SIGNER_AUDIT_BAD_PROMPT',
      `the signature block is garbled: ${errorMessage(cause)}`,
      { cause },
    );
  }
  const fingerprint =
    options.fingerprint !== undefined ? normalizeFingerprint(options.fingerprint) : issuerFingerprint;
  if (fingerprint === null) {
    throw new SignerError(
      'SIGNER_AUDIT_BAD_PROMPT',
      options.fingerprint !== undefined
        ? 'the fingerprint option is not a 40/64-hex fingerprint'
        : 'the signature carries no issuer fingerprint; pass options.fingerprint',
    );
  }
  const promptSha256 = sha256Text(signedPrompt);
  const signatureBlock = parts.signature;

  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (cause) {
    throw new SignerError(
      'SIGNER_AUDIT_IO',
      `cannot create the directory of ${path}: ${errorMessage(cause)}`,
      { cause },
    );
  }
  const record = await withFileLock(
    path,
    async (lock) => {
      let fh: FileHandle;
      try {
        fh = await open(path, 'a+', 0o640);
      } catch (cause) {
        throw new SignerError('SIGNER_AUDIT_IO', `cannot open ${path}: ${errorMessage(cause)}`, { cause });
      }
      try {
        const { size } = await fh.stat();
        const last = size === 0 ? null : parseLastLine(await readLastLine(fh, size, path), path);
        const body: AuditRecordBody = {
          v: AUDIT_RECORD_VERSION,
          seq: last === null ? 0 : last.seq + 1,
          ts: (options.date ?? new Date()).toISOString(),
          promptSha256,
          fingerprint,
          signature: signatureBlock,
          prevHash: last === null ? AUDIT_GENESIS_HASH : last.hash,
        };
        const rec: AuditRecord = { ...body, hash: auditRecordHash(body) };
        lock.assertHeld();
        await writeAll(fh, Buffer.from(`${serializeAuditRecord(rec)}\n`, 'utf8'));
        await fh.sync();
        if (size === 0) await syncDirectory(dirname(path));
        return rec;
      } catch (cause) {
        if (cause instanceof SignerError) throw cause;
        throw new SignerError('SIGNER_AUDIT_IO', `cannot append to ${path}: ${errorMessage(cause)}`, {
          cause,
        });
      } finally {
        await fh.close().catch(() => undefined);
      }
    },
    options,
  );
  options.logger?.info(
    {
      event: 'audit-appended',
      seq: record.seq,
      fingerprint: record.fingerprint,
      promptSha256: record.promptSha256,
    },
    'audit record appended',
  );
  return record;
}

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await fh.write(data, offset, data.length - offset, null);
    offset += bytesWritten;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the new directory entry durable. Best effort: not every platform allows opening a directory.
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* ignore */
  }
}

/** Reads the last line (without its newline) by scanning backwards from the end. */
async function readLastLine(fh: FileHandle, size: number, path: string): Promise<string> {
  const chunkSize = 64 * 1024;
  const tail = Buffer.alloc(1);
  await fh.read(tail, 0, 1, size - 1);
  if (tail[0] !== 0x0a) {
    throw new SignerError(
      'SIGNER_AUDIT_CORRUPT',
      `${path} does not end with a newline (torn last line): repair the log before appending`,
    );
  }
  const chunks: Buffer[] = [];
  let end = size - 1; // exclusive, skips the final newline
  while (end > 0) {
    const start = Math.max(0, end - chunkSize);
    const buf = Buffer.alloc(end - start);
    await fh.read(buf, 0, buf.length, start);
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= 0) {
      chunks.unshift(buf.subarray(nl + 1));
      break;
    }
    chunks.unshift(buf);
    end = start;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseLastLine(line: string, path: string): AuditRecord {
  const parsed = parseRecord(line);
  if (!parsed.ok) {
    throw new SignerError(
      'SIGNER_AUDIT_CORRUPT',
      `the last line of ${path} is not an audit record (${parsed.error}): refusing to chain onto it`,
    );
  }
  return parsed.record;
}

function parseRecord(line: string): { ok: true; record: AuditRecord } | { ok: false; error: string } {
  if (line.trim() === '') return { ok: false, error: 'empty line' };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not valid JSON' };
  }
  const res = auditRecordSchema.safeParse(json);
  if (!res.success) {
    const issue = res.error.issues[0];
    return {
      ok: false,
      error: `not an audit record: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
    };
  }
  return { ok: true, record: res.data };
}

export type AuditProblemKind =
  'edited' | 'deleted' | 'reordered' | 'inserted' | 'malformed' | 'bad-signature';

export interface AuditProblem {
  /** 1-based line in the file (for `deleted`: the line where the missing records should be). */
  readonly line: number;
  /** The record's seq (for `deleted`: the first missing seq; null for malformed lines). */
  readonly seq: number | null;
  readonly kind: AuditProblemKind;
  readonly message: string;
}

export interface AuditVerifyReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  /** Number of well-formed records in the file. */
  readonly records: number;
  /** seq and hash of the last record of the chain (pin it elsewhere and pass it back as `expectHead`). */
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly problems: readonly AuditProblem[];
}

export interface VerifyAuditOptions {
  /** When given, each record's signature must be by one of these keys, matching the record's fingerprint. */
  trusted?: TrustedKeys;
  /**
   * With `trusted`: returns the signed prompt whose sha256 is `promptSha256` (or undefined when unknown) so the
   * signature is verified cryptographically over the prompt, at the record's timestamp.
   */
  resolvePrompt?: (
    promptSha256: string,
    record: AuditRecord,
  ) => string | undefined | Promise<string | undefined>;
  /** A head pinned earlier (from a report or an append): detects truncation of the tail and edits of that record. */
  expectHead?: { seq: number; hash: string };
}

interface Entry {
  readonly line: number;
  readonly index: number;
  readonly raw: string;
  readonly record: AuditRecord;
  readonly intact: boolean;
  /** Why the record is not intact (null when intact). */
  readonly damage: string | null;
  /** seq used to place the record in the chain (repaired from its links when the record was edited). */
  seq: number;
}

/**
 * Verifies the chain of an audit log and reports every problem with its line, seq and kind. Throws only when the
 * file cannot be read (SIGNER_AUDIT_IO) or `trusted` cannot be parsed (SIGNER_INVALID_INPUT).
 */
export async function verifyAuditLog(
  path: string,
  options: VerifyAuditOptions = {},
): Promise<AuditVerifyReport> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new SignerError('SIGNER_AUDIT_IO', `cannot read audit log ${path} (${code})`, { cause });
  }
  let trusted: PublicKey[] | null = null;
  if (options.trusted !== undefined) {
    try {
      trusted = await loadTrustedKeys(options.trusted);
    } catch (cause) {
      throw new SignerError(
        'SIGNER_INVALID_INPUT',
        `a trusted key could not be parsed: ${errorMessage(cause)}`,
        { cause },
      );
    }
  }

  const problems: AuditProblem[] = [];
  const report = (line: number, seq: number | null, kind: AuditProblemKind, message: string): void => {
    if (!problems.some((p) => p.line === line && p.kind === kind))
      problems.push({ line, seq, kind, message });
  };

  // 1. Parse.
  const lines = content.split('\n');
  const torn = lines[lines.length - 1] !== '';
  if (!torn) lines.pop();
  const entries: Entry[] = [];
  lines.forEach((raw, i) => {
    const line = i + 1;
    const parsed = parseRecord(raw);
    if (!parsed.ok) {
      const what = torn && i === lines.length - 1 ? 'torn last line (no trailing newline)' : parsed.error;
      report(line, null, 'malformed', `line ${line}: ${what}`);
      return;
    }
    const record = parsed.record;
    const selfHash = auditRecordHash(record);
    const canonical = serializeAuditRecord(record) === raw;
    const intact = selfHash === record.hash && canonical;
    const damage =
      selfHash !== record.hash
        ? 'content does not match its hash: the record was edited'
        : canonical
          ? null
          : 'the line was rewritten (not in canonical form)';
    entries.push({ line, index: entries.length, raw, record, intact, seq: record.seq, damage });
  });

  // Indexes by hash and by back link keep verification O(n log n).
  const byHash = new Map<string, Entry[]>();
  const byPrevHash = new Map<string, Entry[]>();
  for (const e of entries) {
    byHash.set(e.record.hash, [...(byHash.get(e.record.hash) ?? []), e]);
    byPrevHash.set(e.record.prevHash, [...(byPrevHash.get(e.record.prevHash) ?? []), e]);
  }

  // 2. Place edited records by their links rather than their (possibly edited) seq.
  for (const e of entries) {
    if (e.intact) continue;
    const successor = byPrevHash.get(e.record.hash)?.find((x) => x !== e && x.intact);
    const predecessor = byHash.get(e.record.prevHash)?.find((x) => x !== e && x.intact);
    if (successor) e.seq = successor.record.seq - 1;
    else if (e.record.prevHash === AUDIT_GENESIS_HASH) e.seq = 0;
    else if (predecessor) e.seq = predecessor.record.seq + 1;
    const seqNote = e.seq === e.record.seq ? `seq ${e.seq}` : `seq ${e.seq}, recorded as ${e.record.seq}`;
    report(e.line, e.seq, 'edited', `line ${e.line} (${seqNote}): ${e.damage ?? 'edited'}`);
  }
  const hasSuccessor = (e: Entry): boolean =>
    (byPrevHash.get(e.record.hash) ?? []).some((x) => x !== e && x.seq === e.seq + 1);
  const hasPredecessor = (e: Entry): boolean =>
    e.seq === 0
      ? e.record.prevHash === AUDIT_GENESIS_HASH
      : (byHash.get(e.record.prevHash) ?? []).some((x) => x !== e && x.seq === e.seq - 1);

  // 3. Duplicate seqs: keep the record the chain goes through, the others were inserted.
  const inserted = new Set<Entry>();
  const bySeq = new Map<number, Entry[]>();
  for (const e of entries) bySeq.set(e.seq, [...(bySeq.get(e.seq) ?? []), e]);
  for (const [seq, group] of bySeq) {
    if (group.length < 2) continue;
    const score = (e: Entry): number => (hasSuccessor(e) ? 2 : 0) + (hasPredecessor(e) ? 1 : 0);
    const genuine = group.reduce((best, e) => (score(e) > score(best) ? e : best));
    for (const e of group) {
      if (e === genuine) continue;
      inserted.add(e);
      const copy =
        e.raw === genuine.raw
          ? `a copy of line ${genuine.line}`
          : `not part of the chain (line ${genuine.line} is)`;
      report(e.line, seq, 'inserted', `line ${e.line}: second record with seq ${seq}, ${copy}: inserted`);
    }
  }

  // 4. Orphans linked to nothing and out of file order were inserted (a record after a deletion is in order).
  const laterMinSeq: number[] = new Array<number>(entries.length).fill(Infinity);
  for (let i = entries.length - 2; i >= 0; i--) {
    const next = entries[i + 1] as Entry;
    laterMinSeq[i] = Math.min(laterMinSeq[i + 1] as number, inserted.has(next) ? Infinity : next.seq);
  }
  for (const e of entries) {
    if (inserted.has(e) || hasPredecessor(e) || hasSuccessor(e)) continue;
    if ((laterMinSeq[e.index] as number) < e.seq) {
      inserted.add(e);
      report(
        e.line,
        e.record.seq,
        'inserted',
        `line ${e.line} (seq ${e.record.seq}): linked to no other record and out of place: inserted`,
      );
    }
  }

  // 5. Walk the chain in seq order.
  const chain = entries.filter((e) => !inserted.has(e)).sort((a, b) => a.seq - b.seq || a.index - b.index);
  let prev: Entry | null = null;
  for (const e of chain) {
    const prevSeq = prev === null ? -1 : prev.seq;
    const prevHash = prev === null ? AUDIT_GENESIS_HASH : prev.record.hash;
    const linked = e.record.prevHash === prevHash;
    if (e.seq - prevSeq > 1) {
      if (linked) {
        report(
          e.line,
          e.record.seq,
          'edited',
          `line ${e.line}: seq ${e.record.seq} follows seq ${prevSeq} directly: its seq was edited`,
        );
      } else {
        const first = prevSeq + 1;
        const last = e.seq - 1;
        const range =
          first === last ? `seq ${first} is` : `seq ${first}..${last} (${last - first + 1} records) are`;
        report(e.line, first, 'deleted', `${range} missing before line ${e.line}: deleted`);
      }
    } else if (!linked) {
      if (prev === null) {
        report(
          e.line,
          e.record.seq,
          'edited',
          `line ${e.line} (seq 0): does not start from the genesis hash: edited`,
        );
      } else if (prev.intact) {
        // Contiguous seqs, broken link: the earlier record was rewritten and its hash recomputed (a non-intact one
        // was already reported as edited).
        report(
          prev.line,
          prev.record.seq,
          'edited',
          `line ${prev.line} (seq ${prev.record.seq}): no longer hashes to what seq ${e.seq} chained to: rewritten with a recomputed hash`,
        );
      }
    }
    prev = e;
  }

  // 6. Reordering: the records outside a longest increasing run (in file order) were moved.
  const placed = entries.filter((e) => !inserted.has(e));
  const keep = longestIncreasing(placed.map((e) => e.seq));
  placed.forEach((e, i) => {
    if (keep.has(i)) return;
    report(
      e.line,
      e.record.seq,
      'reordered',
      `line ${e.line} (seq ${e.seq}): out of order: the record was moved`,
    );
  });

  const chainHead = chain.at(-1) ?? null;
  const head = chainHead === null ? null : { seq: chainHead.seq, hash: chainHead.record.hash };

  // 7. Pinned head: truncation and edits of the pinned record.
  if (options.expectHead) {
    const want = options.expectHead;
    const atSeq = chain.find((e) => e.seq === want.seq);
    if (head === null || head.seq < want.seq) {
      const first = head === null ? 0 : head.seq + 1;
      report(
        lines.length + 1,
        first,
        'deleted',
        `the log ends at seq ${head?.seq ?? 'none'} but seq ${want.seq} was pinned: seq ${first}..${want.seq} deleted (truncated)`,
      );
    } else if (atSeq && atSeq.record.hash !== want.hash) {
      report(
        atSeq.line,
        want.seq,
        'edited',
        `line ${atSeq.line} (seq ${want.seq}): hash differs from the pinned head: edited`,
      );
    }
  }

  // 8. Signatures.
  if (trusted !== null) {
    for (const e of entries) {
      const problem = await checkRecordSignature(e.record, trusted, options);
      if (problem !== null)
        report(e.line, e.record.seq, 'bad-signature', `line ${e.line} (seq ${e.record.seq}): ${problem}`);
    }
  }

  problems.sort((a, b) => a.line - b.line);
  return { ok: problems.length === 0, records: entries.length, head, problems };
}

/** Indexes of one longest strictly increasing subsequence of `values` (O(n log n)). */
function longestIncreasing(values: readonly number[]): Set<number> {
  const tails: number[] = []; // index into values of the smallest tail of each length
  const parent: number[] = new Array<number>(values.length).fill(-1);
  values.forEach((v, i) => {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((values[tails[mid] as number] as number) < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) parent[i] = tails[lo - 1] as number;
    tails[lo] = i;
  });
  const keep = new Set<number>();
  let k = tails.length > 0 ? (tails[tails.length - 1] as number) : -1;
  while (k >= 0) {
    keep.add(k);
    k = parent[k] as number;
  }
  return keep;
}

async function checkRecordSignature(
  record: AuditRecord,
  trusted: readonly PublicKey[],
  options: VerifyAuditOptions,
): Promise<string | null> {
  let packet;
  try {
    const signature = await openpgp.readSignature({ armoredSignature: record.signature });
    packet = signature.packets[0];
  } catch (cause) {
    return `the signature is garbled: ${errorMessage(cause)}`;
  }
  if (!packet) return 'the signature block holds no signature';
  const key = trusted.find((k) => k.getKeys(packet.issuerKeyID).length > 0);
  if (!key) return `signed by key ${packet.issuerKeyID.toHex().toUpperCase()}, which is not trusted`;
  const fingerprints = [key, ...key.getKeys(packet.issuerKeyID)].map((k) => k.getFingerprint().toUpperCase());
  if (!fingerprints.includes(record.fingerprint)) {
    return `the record's fingerprint ${record.fingerprint} is not the signing key ${fingerprints[0]}`;
  }
  const at = new Date(record.ts);
  try {
    await key.getSigningKey(packet.issuerKeyID, at);
  } catch (cause) {
    return `signing key ${fingerprints[0]} was not valid at ${record.ts}: ${errorMessage(cause)}`;
  }
  if (options.resolvePrompt) {
    const prompt = await options.resolvePrompt(record.promptSha256, record);
    if (prompt === undefined) return null;
    if (sha256Text(prompt) !== record.promptSha256) return 'the resolved prompt does not match promptSha256';
    const parts = splitSignedPrompt(prompt);
    if (parts === null || parts.signature !== record.signature) {
      return "the resolved prompt's signature is not the recorded one";
    }
    const res = await verifyPrompt(prompt, { trusted: [...trusted], date: at });
    if (!res.valid) return `${res.reason}: ${res.message}`;
  }
  return null;
}
