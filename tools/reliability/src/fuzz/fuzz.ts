import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSkillProcess, type SkillProcess } from '../skill-process.js';
import { runFuzz, type FuzzReport } from './runner.js';
import { draftMethods, healthMethods, imageMethods, sandboxMethods } from './targets.js';

export interface FuzzAllOptions {
  /** Generated requests per contract (10 000 for the full run). */
  cases: number;
  /** The draft skill's GGUF model (the tiny test model). */
  draftModel: string;
  seed?: number;
  onReport?: (r: FuzzReport) => void;
}

/**
 * Fuzzes every skill contract against the real skill processes (dist/main.js, as in the containers): skills.Skill
 * Generate/GenerateStream (draft), PreprocessImage (image), sarai.sandbox.v1 RunTests (sandbox), and health.
 */
export async function fuzzAll(o: FuzzAllOptions): Promise<FuzzReport[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sarai-fuzz-'));
  const procs: SkillProcess[] = [];
  const reports: FuzzReport[] = [];
  try {
    const draft = await startSkillProcess('draft', '@sarai/skill-draft', {
      MODEL_PATH: o.draftModel,
      THREADS: '1',
      CONTEXT_SIZE: '256',
      MAX_TOKENS_LIMIT: '32',
      MAX_CONCURRENT: '2',
      MAX_QUEUE: '8',
    });
    procs.push(draft);
    const image = await startSkillProcess('image', '@sarai/skill-image', {
      CACHE_DIR: join(dir, 'image-cache'),
    });
    procs.push(image);
    const sandbox = await startSkillProcess('sandbox', '@sarai/skill-sandbox', {});
    procs.push(sandbox);
    const runs: Array<
      [string, { methods: import('./targets.js').FuzzMethod[]; close(): void }, SkillProcess[]]
    > = [
      ['skills.Skill (draft: Generate, GenerateStream)', draftMethods(draft.address), [draft]],
      ['skills.Skill (image: PreprocessImage)', imageMethods(image.address), [image]],
      ['sarai.sandbox.v1.SandboxService (RunTests)', sandboxMethods(sandbox.address), [sandbox]],
    ];
    const health = [draft, image, sandbox].map((p) => healthMethods(p.address));
    runs.push([
      'grpc.health.v1 + skills.Health (all skills)',
      { methods: health.flatMap((h) => h.methods), close: () => health.forEach((h) => h.close()) },
      procs,
    ]);
    for (const [contract, target, processes] of runs) {
      try {
        const r = await runFuzz({
          contract,
          methods: target.methods,
          processes,
          cases: o.cases,
          seed: o.seed ?? 15,
        });
        reports.push(r);
        o.onReport?.(r);
      } finally {
        target.close();
      }
    }
    return reports;
  } finally {
    for (const p of procs) await p.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
