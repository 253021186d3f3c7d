import type { SkillProcess } from '../skill-process.js';
import type { FuzzMethod } from './targets.js';
import { Values } from './values.js';

/** The statuses a fuzz run must never see. */
export const FORBIDDEN = new Set(['INTERNAL', 'UNKNOWN']);

export interface FuzzReport {
  contract: string;
  cases: number;
  /** Status name → count. */
  outcomes: Record<string, number>;
  /** INTERNAL / UNKNOWN (first few, with the method and message). */
  forbidden: string[];
  forbiddenCount: number;
  /** Skill processes that died during the run. */
  crashes: string[];
  rssBeforeMb: Record<string, number>;
  rssAfterMb: Record<string, number>;
  seconds: number;
}

/** Sends `cases` generated requests round-robin over `methods`, `parallel` at a time; checks the processes live. */
export async function runFuzz(o: {
  contract: string;
  methods: FuzzMethod[];
  processes: SkillProcess[];
  cases: number;
  parallel?: number;
  seed?: number;
}): Promise<FuzzReport> {
  const v = new Values(o.seed ?? 15);
  const outcomes: Record<string, number> = {};
  const forbidden: string[] = [];
  let forbiddenCount = 0;
  const rssBeforeMb = Object.fromEntries(o.processes.map((p) => [p.name, Math.round(p.rssMb())]));
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < o.cases) {
      const i = next++;
      const m = o.methods[i % o.methods.length] as FuzzMethod;
      // A synchronous throw is the client library refusing to encode the request: it never reached the server.
      let out: string;
      try {
        out = await m.call(v);
      } catch {
        out = 'CLIENT_REJECTED';
      }
      const [code, message] = out.split('|', 2) as [string, string | undefined];
      outcomes[code] = (outcomes[code] ?? 0) + 1;
      if (FORBIDDEN.has(code)) {
        forbiddenCount += 1;
        if (forbidden.length < 10) forbidden.push(`${m.name}: ${code}: ${message ?? ''}`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.parallel ?? 4 }, worker));
  return {
    contract: o.contract,
    cases: o.cases,
    outcomes,
    forbidden,
    forbiddenCount,
    crashes: o.processes.filter((p) => !p.alive()).map((p) => `${p.name}: ${p.stderr().slice(0, 1500)}`),
    rssBeforeMb,
    rssAfterMb: Object.fromEntries(o.processes.map((p) => [p.name, Math.round(p.rssMb())])),
    seconds: Math.round((performance.now() - t0) / 1000),
  };
}
