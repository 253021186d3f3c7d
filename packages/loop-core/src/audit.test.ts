import { PromptSigner, generateSigningKeyPair, verifyPrompt } from '@sarai/signer';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionRecord } from '@sarai/formats';
import { createReflectionSigner, verifyLoopAudit } from './audit.js';
import { OmniLoop } from './omni-loop.js';
import { SkillPool } from './skill-pool.js';
import { startFakeSkill, type FakeSkill } from './test-support/fake-skills.js';

describe('signed reflections with @sarai/signer, audit log and interaction log', () => {
  let dir: string;
  let skill: FakeSkill;
  let pool: SkillPool;
  let publicKey: string;
  let signer: PromptSigner;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sarai-loop-audit-'));
    const pair = await generateSigningKeyPair({ name: 'SARAi test', email: 'sarai@localhost' });
    publicKey = pair.publicKeyArmored;
    signer = await PromptSigner.fromKey(pair.privateKeyArmored);
    skill = await startFakeSkill({ draft: (_p, n) => ({ text: `answer ${n}`, meanLogprob: Math.log(0.2) }) });
    pool = new SkillPool({ addresses: { draft: skill.address } });
  });
  afterAll(async () => {
    pool.close();
    await skill.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every reflection prompt is signed, audited, logged, and verifies; tampering is found', async () => {
    const audit = join(dir, 'audit.jsonl');
    const interactions = join(dir, 'interactions.jsonl');
    const loop = new OmniLoop({
      pool,
      signer: createReflectionSigner(signer, audit),
      interactionLog: interactions,
    });
    const r = await loop.run('Explain gRPC deadlines.');
    expect(r.iterations).toHaveLength(3);

    const lines = (await readFile(interactions, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0] ?? '') as InteractionRecord;
    expect(rec.iterations.map((i) => i.sentPrompt)).toEqual(skill.prompts);
    for (const it of rec.iterations.slice(1)) {
      expect(
        it.signedPrompt?.startsWith(`${it.sentPrompt}\n\n---SIGNATURE---\n-----BEGIN PGP SIGNATURE-----`),
      ).toBe(true);
      expect(await verifyPrompt(it.signedPrompt ?? '', { trusted: publicKey })).toMatchObject({
        valid: true,
        fingerprint: signer.fingerprint,
      });
    }

    const report = await verifyLoopAudit(audit, { trusted: publicKey, interactionLogPath: interactions });
    expect(report).toMatchObject({ ok: true, records: 2, problems: [] });

    // edit the second record's timestamp: the chain breaks and says where
    const auditLines = (await readFile(audit, 'utf8')).trim().split('\n');
    const edited = JSON.parse(auditLines[1] ?? '') as Record<string, unknown>;
    edited['ts'] = '2020-01-01T00:00:00.000Z';
    await writeFile(audit, `${auditLines[0]}\n${JSON.stringify(edited)}\n`);
    const bad = await verifyLoopAudit(audit, { trusted: publicKey, interactionLogPath: interactions });
    expect(bad.ok).toBe(false);
    expect(bad.problems.map((p) => p.kind)).toContain('edited');
  });
});
