import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, verifyAuditLog } from './audit-log.js';
import { repairAuditLog } from './audit-repair.js';
import { runCli, type CliIo } from './cli-run.js';
import { createSignerLogger } from './logger.js';
import { PromptSigner } from './prompt-signer.js';
import { SignerError } from './signer-error.js';
import { newKey, reflectionPrompt, tempDir } from './test-support.js';

let dir: { path: string; cleanup: () => Promise<void> };
let signer: PromptSigner;
let n = 0;

beforeAll(async () => {
  dir = await tempDir('sarai-audit-repair-');
  signer = await PromptSigner.fromKey((await newKey('sarai@localhost')).privateKey);
});
afterAll(() => dir.cleanup());

async function logOf(records: number): Promise<string> {
  n += 1;
  const path = join(dir.path, `r-${n}`, 'audit.jsonl');
  for (let i = 0; i < records; i++)
    await appendAudit(path, await signer.signPrompt(`${reflectionPrompt(1)}#${i}`));
  return path;
}

function cliIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: async () => '',
    env: {},
    logger: createSignerLogger({ level: 'silent' }),
  };
}

describe('audit repair (a torn last record left by a crash)', () => {
  it('verify names exactly the torn last line; repair cuts it, keeps every earlier record, appends continue', async () => {
    const path = await logOf(4);
    const before = await readFile(path, 'utf8');
    const nextLine = (await readFile(await logOf(5), 'utf8')).split('\n')[4] as string;
    await appendFile(path, nextLine.slice(0, 97)); // a record torn mid-write
    const torn = await verifyAuditLog(path);
    expect(torn.ok).toBe(false);
    expect(torn.problems).toEqual([expect.objectContaining({ line: 5, kind: 'malformed' })]);
    expect(torn.problems[0]?.message).toMatch(/torn last line/);
    await expect(appendAudit(path, await signer.signPrompt('x'))).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_CORRUPT',
    });

    const io = cliIo();
    expect(await runCli(['audit-repair', path], io)).toBe(0);
    const res = JSON.parse(io.out.join('')) as {
      repaired: boolean;
      removed: { line: number; bytes: number };
    };
    expect(res.repaired).toBe(true);
    expect(res.removed).toEqual({ line: 5, bytes: 97 });
    expect(await readFile(path, 'utf8')).toBe(before);
    const saved = (await readdir(join(path, '..'))).filter((f) => f.startsWith('audit.jsonl.torn-'));
    expect(saved).toHaveLength(1);
    expect(await readFile(join(path, '..', saved[0] as string), 'utf8')).toBe(nextLine.slice(0, 97));
    const rec = await appendAudit(path, await signer.signPrompt('after repair'));
    expect(rec.seq).toBe(4);
    expect((await verifyAuditLog(path)).ok).toBe(true);
  });

  it('a complete last record without its newline is kept and terminated', async () => {
    const path = await logOf(3);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, -1));
    const res = await repairAuditLog(path);
    expect(res).toMatchObject({ repaired: true, terminated: true, removed: null });
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('a healthy log is left alone', async () => {
    const path = await logOf(2);
    const res = await repairAuditLog(path);
    expect(res.repaired).toBe(false);
    expect(res.report.ok).toBe(true);
  });

  it('refuses to "repair" tampering (an edited record before the tail) and changes nothing', async () => {
    const path = await logOf(4);
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines[1] = (lines[1] as string).replace(/"ts":"[^"]+"/, '"ts":"2020-01-01T00:00:00.000Z"');
    const tampered = `${lines.join('\n')}{"v":1,"seq":4`;
    await writeFile(path, tampered);
    await expect(repairAuditLog(path)).rejects.toSatisfy(
      (e: unknown) =>
        e instanceof SignerError &&
        e.code === 'SIGNER_AUDIT_CORRUPT' &&
        /restore it from a backup/.test(e.message),
    );
    expect(await readFile(path, 'utf8')).toBe(tampered);
    const io = cliIo();
    expect(await runCli(['audit-repair', path], io)).toBe(1);
    expect(io.err.join('')).toMatch(/SIGNER_AUDIT_CORRUPT/);
  });
});

describe('sign size bound', () => {
  it('refuses a prompt over maxPromptBytes before signing, counting UTF-8 bytes', async () => {
    const small = await PromptSigner.fromKey((await newKey('bound@localhost')).privateKey, {
      maxPromptBytes: 1000,
    });
    await expect(small.signPrompt('é'.repeat(501))).rejects.toMatchObject({
      code: 'SIGNER_INVALID_INPUT',
      message: expect.stringMatching(/is 1002 bytes; at most 1000 bytes/),
    });
    await expect(small.signPrompt('é'.repeat(500))).resolves.toMatch(/---SIGNATURE---/);
  });

  it('the default bound (16 MiB) refuses a 20 MB prompt', async () => {
    await expect(signer.signPrompt('x'.repeat(20 * 1024 * 1024))).rejects.toMatchObject({
      code: 'SIGNER_INVALID_INPUT',
    });
  });
});
