import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenReq, ImageReq, connectSkill } from '@sarai/proto';
import { Language, RunTestsRequest, connectSandbox } from '@sarai/sandbox-contract';
import { pictureOf } from '../crash/image-cache-writer.js';
import { CONTAINER_ENV } from '../hostile/hostile.js';
import { startSkillProcess, type SkillProcess } from '../skill-process.js';
import { percentile, secondHalfSlope } from './stats.js';

export interface SoakServiceReport {
  service: string;
  requests: number;
  errors: number;
  throughputPerS: number;
  p50Ms: number;
  p99Ms: number;
  rssStartMb: number;
  rssEndMb: number;
  /** Least-squares slope of RSS over the run's second half, MiB per minute. */
  rssSlopeMbPerMin: number;
}

/**
 * Mixed traffic for `seconds` against the real skill processes (draft, image, sandbox; container allocator
 * settings): `clients` concurrent callers per service, mostly valid requests with some refused ones; RSS is sampled
 * every 2 s. Prints throughput, p50/p99 and the RSS slope of the second half per service.
 */
export async function soak(o: {
  seconds: number;
  draftModel: string;
  clients?: number;
}): Promise<SoakServiceReport[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sarai-soak-'));
  const procs: SkillProcess[] = [];
  try {
    const draft = await startSkillProcess('draft', '@sarai/skill-draft', {
      ...CONTAINER_ENV.draft,
      MODEL_PATH: o.draftModel,
    });
    procs.push(draft);
    const image = await startSkillProcess('image', '@sarai/skill-image', {
      ...CONTAINER_ENV.image,
      CACHE_DIR: join(dir, 'cache'),
    });
    procs.push(image);
    const sandbox = await startSkillProcess('sandbox', '@sarai/skill-sandbox', CONTAINER_ENV.sandbox);
    procs.push(sandbox);
    const dc = connectSkill(draft.address);
    const ic = connectSkill(image.address);
    const sc = connectSandbox(sandbox.address);
    const pictures = await Promise.all(Array.from({ length: 40 }, (_, i) => pictureOf(`soak-${i}`)));
    let i = 0;
    const calls: Record<string, () => Promise<unknown>> = {
      draft: () =>
        dc.skill.generate(
          GenReq.create({
            prompt: i % 10 === 0 ? '' : `question ${i % 50}: tell me`,
            maxTokens: 16,
            temperature: 0.7,
            seed: i,
          }),
          { timeout: 30_000 },
        ).response,
      image: () =>
        ic.skill.preprocessImage(
          ImageReq.create({ imageData: pictures[i % pictures.length] as Buffer, quality: 50 + (i % 40) }),
          {
            timeout: 30_000,
          },
        ).response,
      sandbox: () =>
        sc.client.runTests(
          RunTestsRequest.create({
            code: i % 7 === 0 ? 'function add(a,b){ while(true){} }' : 'function add(a, b) { return a + b; }',
            language: Language.JAVASCRIPT,
            functionName: 'add',
            tests: [{ argsJson: '[1,2]', expectedJson: '3' }],
          }),
          { timeout: 30_000 },
        ).response,
    };
    const latencies: Record<string, number[]> = { draft: [], image: [], sandbox: [] };
    const errors: Record<string, number> = { draft: 0, image: 0, sandbox: 0 };
    const rss: Record<string, Array<[number, number]>> = { draft: [], image: [], sandbox: [] };
    const t0 = performance.now();
    const end = t0 + o.seconds * 1000;
    const sampler = setInterval(() => {
      const t = (performance.now() - t0) / 60_000;
      for (const p of procs) rss[p.name]?.push([t, p.rssMb()]);
    }, 2000);
    const rssStart = Object.fromEntries(procs.map((p) => [p.name, p.rssMb()]));
    const worker = async (service: string) => {
      while (performance.now() < end) {
        i++;
        const s = performance.now();
        try {
          await (calls[service] as () => Promise<unknown>)();
          latencies[service]?.push(performance.now() - s);
        } catch {
          errors[service] = (errors[service] ?? 0) + 1;
        }
      }
    };
    await Promise.all(
      Object.keys(calls).flatMap((svc) => Array.from({ length: o.clients ?? 2 }, () => worker(svc))),
    );
    clearInterval(sampler);
    const elapsed = (performance.now() - t0) / 1000;
    dc.close();
    ic.close();
    sc.close();
    return procs.map((p) => {
      const lat = (latencies[p.name] ?? []).sort((a, b) => a - b);
      const samples = rss[p.name] ?? [];
      return {
        service: p.name,
        requests: lat.length + (errors[p.name] ?? 0),
        errors: errors[p.name] ?? 0,
        throughputPerS: Number((lat.length / elapsed).toFixed(1)),
        p50Ms: Math.round(percentile(lat, 50)),
        p99Ms: Math.round(percentile(lat, 99)),
        rssStartMb: Math.round(rssStart[p.name] ?? 0),
        rssEndMb: Math.round(p.rssMb()),
        rssSlopeMbPerMin: secondHalfSlope(samples),
      };
    });
  } finally {
    for (const p of procs) await p.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
