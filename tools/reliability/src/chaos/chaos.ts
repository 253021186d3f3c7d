import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { freePort } from '@sarai/formats';
import {
  OmniLoop,
  SkillPool,
  createReflectionSigner,
  verifyLoopAudit,
  type LocalDraftModel,
} from '@sarai/loop-core';
import { PromptSigner, generateSigningKeyPair } from '@sarai/signer';
import pino from 'pino';
import { CONTAINER_ENV } from '../hostile/hostile.js';
import { startSkillProcess, type SkillProcess } from '../skill-process.js';

export interface ChaosReport {
  loops: number;
  answered: number;
  fromSkill: number;
  fromFallback: number;
  /** What was done to the skill, in order, with the loop it happened before. */
  events: string[];
  /** Breaker state changes as the pool logged them (open / half-open / closed). */
  breakerTransitions: string[];
  /** Reflection prompts signed by the loops, audit records, and whether the chain (with signatures) verifies. */
  signedPrompts: number;
  auditRecords: number;
  auditOk: boolean;
  /** Interaction-log records written vs loops answered. */
  interactionRecords: number;
}

/**
 * `loops` runs of the loop (2 iterations each: draft + signed reflection) against a real draft skill process that
 * is killed, restarted, stopped (SIGSTOP: slow) and flapping; the in-process fallback answers while it is down.
 */
export async function chaosLoops(o: { loops: number; draftModel: string }): Promise<ChaosReport> {
  const dir = await mkdtemp(join(tmpdir(), 'sarai-chaos-'));
  const port = await freePort();
  const env = {
    ...CONTAINER_ENV.draft,
    MODEL_PATH: o.draftModel,
    PORT: String(port),
    THREADS: '1',
    CONTEXT_SIZE: '512',
    MAX_TOKENS_LIMIT: '64',
  };
  const breakerTransitions: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (line.includes('circuit breaker'))
          breakerTransitions.push((JSON.parse(line) as { msg: string }).msg);
      }
      cb();
    },
  });
  let skill: SkillProcess | undefined;
  const start = async () => {
    skill = await startSkillProcess('draft', '@sarai/skill-draft', env);
  };
  const { DraftEngine } = await import('@sarai/skill-draft');
  const engine = await DraftEngine.load({
    modelPath: o.draftModel,
    threads: 1,
    contextSize: 512,
    sequences: 1,
    maxQueue: 8,
  });
  const fallback: LocalDraftModel = {
    async generate(prompt, d) {
      const r = await engine.generate({
        prompt,
        maxTokens: d.maxTokens,
        stop: d.stop,
        temperature: d.temperature,
        ...(d.seed !== undefined ? { seed: d.seed } : {}),
      });
      return { text: r.text };
    },
  };
  const pair = await generateSigningKeyPair({ name: 'chaos', email: 'chaos@localhost' });
  const signer = await PromptSigner.fromKey(pair.privateKeyArmored);
  const auditPath = join(dir, 'audit.jsonl');
  const interactionLog = join(dir, 'interactions.jsonl');
  const pool = new SkillPool({
    addresses: { draft: `127.0.0.1:${port}` },
    breaker: {
      resetTimeoutMs: 300,
      volumeThreshold: 1,
      errorThresholdPercentage: 50,
      rollingCountTimeoutMs: 5000,
    },
    logger: pino({ level: 'info' }, logs),
  });
  const loop = new OmniLoop({
    pool,
    signer: createReflectionSigner(signer, auditPath),
    maxIterations: 2,
    confidenceThreshold: 1, // (almost) never confident: loops reflect (signed, audited prompts)
    maxTokens: 8,
    draftDeadlineMs: 1500,
    fallback: { draft: fallback },
    interactionLog,
  });
  const events: string[] = [];
  let answered = 0;
  let fromSkill = 0;
  let fromFallback = 0;
  let signedPrompts = 0;
  try {
    await start();
    for (let i = 0; i < o.loops; i++) {
      const phase = i % 25;
      // Every 25 loops: killed at 3, restarted at 8, made slow (SIGSTOP) at 12 and resumed at 15, flapping 18..23.
      if (phase === 3) {
        skill?.child.kill('SIGKILL');
        events.push(`loop ${i}: kill -9`);
      } else if (phase === 8) {
        await start();
        events.push(`loop ${i}: restarted`);
      } else if (phase === 12) {
        skill?.child.kill('SIGSTOP');
        events.push(`loop ${i}: SIGSTOP (slow: calls time out)`);
      } else if (phase === 15) {
        skill?.child.kill('SIGCONT');
        events.push(`loop ${i}: SIGCONT`);
      } else if (phase >= 18 && phase <= 23) {
        if (phase % 2 === 0) {
          skill?.child.kill('SIGKILL');
          events.push(`loop ${i}: flap down`);
        } else {
          await start();
          events.push(`loop ${i}: flap up`);
        }
      }
      const r = await loop.run(`chaos question ${i}: what is ${i} + 1?`, { seed: i });
      if (r.text.length > 0 || r.iterations.length > 0) answered++;
      if (r.fallbackUsed) fromFallback++;
      else fromSkill++;
      signedPrompts += r.iterations.filter((it) => it.promptSignature).length;
    }
    const audit = await verifyLoopAudit(auditPath, {
      trusted: pair.publicKeyArmored,
      interactionLogPath: interactionLog,
    });
    const interactionRecords = (await readFile(interactionLog, 'utf8')).split('\n').filter(Boolean).length;
    return {
      loops: o.loops,
      answered,
      fromSkill,
      fromFallback,
      events,
      breakerTransitions,
      signedPrompts,
      auditRecords: audit.records,
      auditOk: audit.ok,
      interactionRecords,
    };
  } finally {
    skill?.child.kill('SIGCONT');
    await skill?.stop();
    pool.close();
    await engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
