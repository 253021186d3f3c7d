import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUDIT_GENESIS_HASH,
  appendAudit,
  auditRecordHash,
  serializeAuditRecord,
  verifyAuditLog,
  type AuditProblemKind,
  type AuditRecord,
  type AuditVerifyReport,
} from './audit-log.js';
import { SIGNATURE_SEPARATOR } from './envelope.js';
import type { GeneratedKeyPair } from './keys.js';
import { PromptSigner } from './prompt-signer.js';
import { SignerError } from './signer-error.js';
import { must, newKey, reflectionPrompt, tempDir } from './test-support.js';

let dir: { path: string; cleanup: () => Promise<void> };
let pair: GeneratedKeyPair;
let signer: PromptSigner;
let prompts: string[];
let counter = 0;

beforeAll(async () => {
  dir = await tempDir('sarai-audit-');
  pair = await newKey('sarai@localhost');
  signer = await PromptSigner.fromKey(pair.privateKey);
  prompts = [];
  for (let i = 0; i < 10; i++) prompts.push(await signer.signPrompt(`${reflectionPrompt(i % 3)}\n#${i}`));
});
afterAll(() => dir.cleanup());

function freshPath(): string {
  counter += 1;
  return join(dir.path, `log-${counter}`, 'audit.jsonl');
}

/** A log of `n` records and its lines. */
async function makeLog(n = 10): Promise<{ path: string; lines: string[] }> {
  const path = freshPath();
  for (let i = 0; i < n; i++) await appendAudit(path, prompts[i % prompts.length] as string);
  return { path, lines: await readLines(path) };
}

async function readLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(0, -1);
}

async function writeLines(path: string, lines: readonly string[]): Promise<void> {
  await writeFile(path, lines.map((l) => `${l}\n`).join(''));
}

function parse(line: string): AuditRecord {
  return JSON.parse(line) as AuditRecord;
}

/** Re-serializes a modified record, recomputing its hash (a "careful" forger). */
function rehashed(record: Omit<AuditRecord, 'hash'>): string {
  return serializeAuditRecord({ ...record, hash: auditRecordHash(record) });
}

function kinds(report: AuditVerifyReport): AuditProblemKind[] {
  return report.problems.map((p) => p.kind);
}

describe('appendAudit', () => {
  it('writes canonical, hash-chained records starting from the genesis hash', async () => {
    const path = freshPath();
    const first = await appendAudit(path, prompts[0] as string);
    const second = await appendAudit(path, prompts[1] as string, {
      date: new Date('2026-01-02T03:04:05.678Z'),
    });
    expect(first).toMatchObject({
      v: 1,
      seq: 0,
      prevHash: AUDIT_GENESIS_HASH,
      fingerprint: pair.fingerprint,
    });
    expect(first.promptSha256).toBe(
      createHash('sha256')
        .update(prompts[0] as string, 'utf8')
        .digest('hex'),
    );
    expect(first.signature).toBe(
      (prompts[0] as string).slice(
        (prompts[0] as string).lastIndexOf(SIGNATURE_SEPARATOR) + SIGNATURE_SEPARATOR.length,
      ),
    );
    expect(second).toMatchObject({ seq: 1, prevHash: first.hash, ts: '2026-01-02T03:04:05.678Z' });
    const lines = await readLines(path);
    expect(lines).toEqual([serializeAuditRecord(first), serializeAuditRecord(second)]);
    expect(Object.keys(JSON.parse(lines[0] as string))).toEqual([
      'v',
      'seq',
      'ts',
      'promptSha256',
      'fingerprint',
      'signature',
      'prevHash',
      'hash',
    ]);
    expect(auditRecordHash(first)).toBe(first.hash);
  });

  it('refuses prompts without a signature block or with a garbled one', async () => {
    const path = freshPath();
    await expect(appendAudit(path, 'unsigned prompt')).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_BAD_PROMPT',
    });
    await expect(appendAudit(path, `x${SIGNATURE_SEPARATOR}garbage`)).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_BAD_PROMPT',
    });
    await expect(appendAudit(path, prompts[0] as string, { fingerprint: 'nope' })).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_BAD_PROMPT',
    });
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to chain onto a torn or malformed last line', async () => {
    const { path } = await makeLog(2);
    await appendFile(path, '{"v":1,"seq":2,"ts":"20');
    const err = await appendAudit(path, prompts[0] as string).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignerError);
    expect((err as SignerError).code).toBe('SIGNER_AUDIT_CORRUPT');
    await appendFile(path, '\n');
    await expect(appendAudit(path, prompts[0] as string)).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_CORRUPT',
    });
  });

  it('concurrent in-process and multi-process appends never interleave or lose a record', async () => {
    const path = freshPath();
    const promptFile = join(dir.path, 'prompts.json');
    await writeFile(promptFile, JSON.stringify(prompts));
    const dist = pathToFileURL(resolve(import.meta.dirname, '../dist/index.js')).href;
    const perChild = 50;
    const children = 4;
    const script = `
      const { appendAudit } = await import(process.env.DIST_URL);
      const { readFile } = await import('node:fs/promises');
      const prompts = JSON.parse(await readFile(process.env.PROMPTS, 'utf8'));
      const n = Number(process.env.COUNT);
      const child = Number(process.env.CHILD);
      // half concurrently, half sequentially
      await Promise.all(Array.from({ length: n / 2 }, (_, i) => appendAudit(process.env.LOG, prompts[(child + i) % prompts.length])));
      for (let i = 0; i < n / 2; i++) await appendAudit(process.env.LOG, prompts[(child + i) % prompts.length]);
    `;
    const runs = Array.from(
      { length: children },
      (_, child) =>
        new Promise<void>((resolveRun, reject) => {
          const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
            env: {
              ...process.env,
              DIST_URL: dist,
              PROMPTS: promptFile,
              COUNT: String(perChild),
              CHILD: String(child),
              LOG: path,
            },
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let stderr = '';
          proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          proc.on('error', reject);
          proc.on('exit', (code) =>
            code === 0 ? resolveRun() : reject(new Error(`child ${child} exited ${code}: ${stderr}`)),
          );
        }),
    );
    const local = Promise.all(
      Array.from({ length: 50 }, (_, i) => appendAudit(path, prompts[i % prompts.length] as string)),
    );
    const [records] = await Promise.all([local, ...runs]);
    expect(new Set(records.map((r) => r.seq)).size).toBe(50);

    const report = await verifyAuditLog(path);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(children * perChild + 50);
    const lines = await readLines(path);
    expect(lines.map((l) => parse(l).seq)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(report.head).toEqual({ seq: 249, hash: parse(lines[249] as string).hash });
  }, 180_000);
});

describe('verifyAuditLog', () => {
  it('accepts an untouched log', async () => {
    const { path, lines } = await makeLog();
    const report = await verifyAuditLog(path);
    expect(report).toEqual({
      ok: true,
      records: 10,
      head: { seq: 9, hash: parse(lines[9] as string).hash },
      problems: [],
    });
  });

  it('edited in place → edited (that line only)', async () => {
    const { path, lines } = await makeLog();
    const rec = parse(lines[3] as string);
    lines[3] = (lines[3] as string).replace(rec.ts, '2020-01-01T00:00:00.000Z');
    await writeLines(path, lines);
    const report = await verifyAuditLog(path);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'edited', line: 4, seq: 3 })]);
  });

  it('edited with a recomputed hash → edited (found through the next record)', async () => {
    const { path, lines } = await makeLog();
    const { hash: _hash, ...body } = parse(lines[3] as string);
    lines[3] = rehashed({ ...body, promptSha256: 'f'.repeat(64) });
    await writeLines(path, lines);
    const report = await verifyAuditLog(path);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'edited', line: 4, seq: 3 })]);
  });

  it('edited seq field → edited, and the record is still placed by its links', async () => {
    const { path, lines } = await makeLog();
    lines[4] = (lines[4] as string).replace('"seq":4,', '"seq":7,');
    await writeLines(path, lines);
    const report = await verifyAuditLog(path);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'edited', line: 5, seq: 4 })]);
  });

  it('re-serialized line (same values, other formatting) → edited', async () => {
    const { path, lines } = await makeLog();
    lines[2] = JSON.stringify(parse(lines[2] as string), null, 0).replace('"v":1,', '"v": 1,');
    await writeLines(path, lines);
    expect((await verifyAuditLog(path)).problems).toEqual([
      expect.objectContaining({ kind: 'edited', line: 3 }),
    ]);
  });

  it('deleted in the middle → deleted, naming the missing seq', async () => {
    const { path, lines } = await makeLog();
    lines.splice(4, 2);
    await writeLines(path, lines);
    const report = await verifyAuditLog(path);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'deleted', line: 5, seq: 4 })]);
    expect(report.problems[0]?.message).toContain('seq 4..5');
  });

  it('deleted first record → deleted', async () => {
    const { path, lines } = await makeLog();
    await writeLines(path, lines.slice(1));
    expect((await verifyAuditLog(path)).problems).toEqual([
      expect.objectContaining({ kind: 'deleted', line: 1, seq: 0 }),
    ]);
  });

  it('truncated tail → deleted, against a pinned head', async () => {
    const { path, lines } = await makeLog();
    const head = must((await verifyAuditLog(path)).head, 'head');
    await writeLines(path, lines.slice(0, 7));
    expect((await verifyAuditLog(path)).ok).toBe(true); // undetectable from the file alone
    const report = await verifyAuditLog(path, { expectHead: head });
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'deleted', seq: 7 })]);
  });

  it('pinned head whose record was rewritten → edited', async () => {
    const { path, lines } = await makeLog();
    const head = must((await verifyAuditLog(path)).head, 'head');
    const { hash: _hash, ...body } = parse(lines[9] as string);
    lines[9] = rehashed({ ...body, ts: '2020-01-01T00:00:00.000Z' });
    await writeLines(path, lines);
    expect((await verifyAuditLog(path, { expectHead: head })).problems).toEqual([
      expect.objectContaining({ kind: 'edited', line: 10, seq: 9 }),
    ]);
  });

  it('swapped records → reordered (one record moved)', async () => {
    const { path, lines } = await makeLog();
    [lines[3], lines[4]] = [lines[4] as string, lines[3] as string];
    await writeLines(path, lines);
    const report = await verifyAuditLog(path);
    expect(kinds(report)).toEqual(['reordered']);
    expect([3, 4]).toContain(report.problems[0]?.seq);
  });

  it('first record moved to the end → reordered (only that one)', async () => {
    const { path, lines } = await makeLog();
    await writeLines(path, [...lines.slice(1), lines[0] as string]);
    expect((await verifyAuditLog(path)).problems).toEqual([
      expect.objectContaining({ kind: 'reordered', line: 10, seq: 0 }),
    ]);
  });

  it('copy of a record inserted → inserted', async () => {
    const { path, lines } = await makeLog();
    lines.splice(7, 0, lines[2] as string);
    await writeLines(path, lines);
    const report = await verifyAuditLog(path);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'inserted', line: 8, seq: 2 })]);
    expect(report.problems[0]?.message).toContain('copy of line 3');
  });

  it('forged record chained onto its predecessor → inserted (the original stays in the chain)', async () => {
    const { path, lines } = await makeLog();
    const prev = parse(lines[4] as string);
    const forged = rehashed({
      ...parse(lines[5] as string),
      prevHash: prev.hash,
      promptSha256: 'a'.repeat(64),
    });
    lines.splice(5, 0, forged);
    await writeLines(path, lines);
    expect((await verifyAuditLog(path)).problems).toEqual([
      expect.objectContaining({ kind: 'inserted', line: 6, seq: 5 }),
    ]);
  });

  it('forged record with an unused seq, linked to nothing → inserted', async () => {
    const { path, lines } = await makeLog();
    const forged = rehashed({ ...parse(lines[2] as string), seq: 1000, prevHash: 'b'.repeat(64) });
    lines.splice(3, 0, forged);
    await writeLines(path, lines);
    expect((await verifyAuditLog(path)).problems).toEqual([
      expect.objectContaining({ kind: 'inserted', line: 4, seq: 1000 }),
    ]);
  });

  it('garbage and torn lines → malformed', async () => {
    const { path, lines } = await makeLog();
    lines.splice(2, 0, 'not json');
    lines.splice(5, 0, '{"v":1}');
    await writeFile(path, `${lines.map((l) => `${l}\n`).join('')}{"v":1,"seq":10,"ts`);
    const report = await verifyAuditLog(path);
    expect(report.problems.map((p) => [p.kind, p.line])).toEqual([
      ['malformed', 3],
      ['malformed', 6],
      ['malformed', 13],
    ]);
    expect(report.problems[2]?.message).toContain('torn');
    expect(report.records).toBe(10);
  });

  it('each kind of tampering is reported as that kind and only that kind', async () => {
    const scenarios: Record<string, (lines: string[]) => string[]> = {
      edited: (l) =>
        l.map((x, i) => (i === 5 ? x.replace(/"ts":"[^"]+"/, '"ts":"2000-01-01T00:00:00.000Z"') : x)),
      deleted: (l) => l.filter((_, i) => i !== 5),
      reordered: (l) => [...l.slice(0, 5), l[6] as string, l[5] as string, ...l.slice(7)],
      inserted: (l) => [...l.slice(0, 6), l[1] as string, ...l.slice(6)],
      malformed: (l) => [...l.slice(0, 6), '}{', ...l.slice(6)],
    };
    for (const [kind, tamper] of Object.entries(scenarios)) {
      const { path, lines } = await makeLog();
      await writeLines(path, tamper(lines));
      const report = await verifyAuditLog(path);
      expect(report.ok, kind).toBe(false);
      expect(kinds(report), kind).toEqual([kind]);
    }
  });

  it('with trusted keys: signatures by untrusted keys or not matching the fingerprint → bad-signature', async () => {
    const { path } = await makeLog(3);
    expect((await verifyAuditLog(path, { trusted: pair.publicKeyArmored })).ok).toBe(true);

    const stranger = await newKey('stranger@example.com');
    const strangerSigner = await PromptSigner.fromKey(stranger.privateKey);
    await appendAudit(path, await strangerSigner.signPrompt('hello'));
    await appendAudit(path, prompts[0] as string, { fingerprint: stranger.fingerprint });
    const report = await verifyAuditLog(path, { trusted: pair.publicKeyArmored });
    expect(report.problems.map((p) => [p.kind, p.line])).toEqual([
      ['bad-signature', 4],
      ['bad-signature', 5],
    ]);
    expect(report.problems[0]?.message).toContain('not trusted');
    expect(report.problems[1]?.message).toContain('fingerprint');
    // without trusted keys, signatures are not checked
    expect((await verifyAuditLog(path)).ok).toBe(true);
  });

  it('with resolvePrompt: the signature is verified over the prompt', async () => {
    const { path } = await makeLog(4);
    const byHash = new Map(prompts.map((p) => [createHash('sha256').update(p, 'utf8').digest('hex'), p]));
    const ok = await verifyAuditLog(path, {
      trusted: [pair.publicKey],
      resolvePrompt: (sha) => byHash.get(sha),
    });
    expect(ok.problems).toEqual([]);

    const lines = await readLines(path);
    const { hash: _h, ...body } = parse(lines[1] as string);
    // swap in the signature of another prompt, recompute everything the chain covers
    const other = parse(lines[2] as string).signature;
    lines[1] = rehashed({ ...body, signature: other });
    const next = parse(lines[2] as string);
    const { hash: _h2, ...nextBody } = next;
    lines[2] = rehashed({ ...nextBody, prevHash: parse(lines[1]).hash });
    const next3 = parse(lines[3] as string);
    const { hash: _h3, ...body3 } = next3;
    lines[3] = rehashed({ ...body3, prevHash: parse(lines[2]).hash });
    await writeLines(path, lines);
    const report = await verifyAuditLog(path, {
      trusted: pair.publicKeyArmored,
      resolvePrompt: (sha) => byHash.get(sha),
    });
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'bad-signature', line: 2, seq: 1 })]);
  });

  it('throws SIGNER_AUDIT_IO for a missing log and SIGNER_INVALID_INPUT for bad trusted keys', async () => {
    await expect(verifyAuditLog(join(dir.path, 'missing.jsonl'))).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_IO',
    });
    const { path } = await makeLog(1);
    await expect(verifyAuditLog(path, { trusted: 'nope' })).rejects.toMatchObject({
      code: 'SIGNER_INVALID_INPUT',
    });
  });
});
