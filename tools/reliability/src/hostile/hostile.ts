import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenReq, ImageReq, RpcError, connectSkill } from '@sarai/proto';
import { Language, RunTestsRequest, connectSandbox } from '@sarai/sandbox-contract';
import sharp from 'sharp';
import { pictureOf } from '../crash/image-cache-writer.js';
import { startSkillProcess, type SkillProcess } from '../skill-process.js';
import { serveSet, startServe } from './serve.js';

/** The allocator settings of each skill's image (its Dockerfile ENV), so RSS is measured as in the container. */
export const CONTAINER_ENV: Record<'draft' | 'image' | 'sandbox', Record<string, string>> = {
  draft: { UV_THREADPOOL_SIZE: '1', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '1048576' },
  image: { MALLOC_ARENA_MAX: '2' },
  sandbox: { MALLOC_ARENA_MAX: '2', SANDBOX_CONCURRENCY: '2' },
};

/** One hostile request: a name and a call that resolves to its status name (never throws). */
interface Hostile {
  readonly name: string;
  send(): Promise<string>;
}

export interface HostileReport {
  skill: string;
  /** Hostile requests sent in total (rounds × set size) and the statuses they got. */
  sent: number;
  outcomes: Record<string, number>;
  /** RSS after warm-up (steady), after each round, and the peak (VmHWM), MiB. */
  steadyMb: number;
  afterRoundsMb: number[];
  peakMb: number;
  alive: boolean;
  seconds: number;
  /** The names of the hostile inputs tried. */
  inputs: string[];
}

const status = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return e instanceof RpcError ? e.code : 'CLIENT_REJECTED';
  }
};

function draftSet(address: string): { set: Hostile[]; warm: () => Promise<unknown>; close(): void } {
  // The client may send up to 40 MiB: the server's own limit (8 MiB for the text skill) must refuse it.
  const conn = connectSkill(address, { maxMessageBytes: 40 * 1024 * 1024 });
  const gen = (req: Partial<GenReq>) =>
    status(conn.skill.generate(GenReq.create({ maxTokens: 8, ...req })).response);
  const set: Hostile[] = [
    { name: '20 MB prompt', send: () => gen({ prompt: 'x'.repeat(20 * 1024 * 1024) }) },
    { name: '7.9 MB prompt (under the message limit)', send: () => gen({ prompt: 'y'.repeat(7_900_000) }) },
    { name: '2 MB of 4-byte characters', send: () => gen({ prompt: '😀'.repeat(500_000) }) },
    {
      name: 'prompt at the byte bound (tokenized, then refused)',
      send: () => gen({ prompt: 'a '.repeat(13_000) }),
    },
    {
      name: '64 KiB grammar',
      send: () => gen({ prompt: 'hi', grammar: `root ::= "${'a'.repeat(65_000)}"` }),
    },
    {
      name: '16 stop strings × 256',
      send: () =>
        gen({ prompt: 'hi', stop: Array.from({ length: 16 }, (_, i) => `${i}`.repeat(256).slice(0, 256)) }),
    },
    { name: 'max_tokens 2^31-1', send: () => gen({ prompt: 'hi', maxTokens: 2 ** 31 - 1 }) },
    {
      name: '64 concurrent generations (admission)',
      send: async () => {
        const all = await Promise.all(
          Array.from({ length: 64 }, (_, i) => gen({ prompt: `flood ${i}`, maxTokens: 16 })),
        );
        return all.includes('RESOURCE_EXHAUSTED') ? 'RESOURCE_EXHAUSTED' : 'OK';
      },
    },
  ];
  return { set, warm: () => gen({ prompt: 'warm up', maxTokens: 16 }), close: () => conn.close() };
}

function imageSet(address: string): { set: Hostile[]; warm: () => Promise<unknown>; close(): void } {
  const conn = connectSkill(address, { maxMessageBytes: 40 * 1024 * 1024 });
  const pre = (imageData: Uint8Array, extra: Partial<ImageReq> = {}) =>
    status(
      conn.skill.preprocessImage(ImageReq.create({ imageData, ...extra }), { timeout: 60_000 }).response,
    );
  const random = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4096) b[i] = (i * 2654435761) & 255;
    return b;
  };
  const set: Hostile[] = [
    { name: '31 MiB of non-image bytes', send: () => pre(random(31 * 1024 * 1024)) },
    {
      name: 'PNG bomb 30000×30000 (tiny file)',
      send: async () =>
        pre(
          await sharp({
            create: { width: 30000, height: 30000, channels: 3, background: '#000' },
            limitInputPixels: false,
          })
            .png({ compressionLevel: 9 })
            .toBuffer(),
        ),
    },
    {
      name: '4000×4000 noise PNG (decode budget)',
      send: async () => {
        const raw = Buffer.alloc(4000 * 4000 * 3);
        for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
        return pre(
          await sharp(raw, { raw: { width: 4000, height: 4000, channels: 3 } })
            .png({ compressionLevel: 1 })
            .toBuffer(),
        );
      },
    },
    { name: 'truncated PNG', send: async () => pre((await pictureOf('hostile')).subarray(0, 60)) },
    {
      name: 'max_dimension 2^31-1, quality -1',
      send: async () => pre(await pictureOf('dims'), { maxDimension: 2 ** 31 - 1, quality: -1 }),
    },
    {
      name: '16 concurrent 2000×2000 decodes',
      send: async () => {
        const raw = Buffer.alloc(2000 * 2000 * 3, 7);
        const png = await sharp(raw, { raw: { width: 2000, height: 2000, channels: 3 } })
          .png()
          .toBuffer();
        const all = await Promise.all(Array.from({ length: 16 }, (_, i) => pre(png, { quality: 50 + i })));
        return all.includes('RESOURCE_EXHAUSTED')
          ? 'RESOURCE_EXHAUSTED'
          : (all.find((s) => s !== 'OK') ?? 'OK');
      },
    },
  ];
  return { set, warm: async () => pre(await pictureOf('warm')), close: () => conn.close() };
}

function sandboxSet(address: string): { set: Hostile[]; warm: () => Promise<unknown>; close(): void } {
  const conn = connectSandbox(address);
  const run = (
    code: string,
    tests = 1,
    limits?: Partial<{ wallMs: number; memoryMb: number; outputBytes: number }>,
  ) =>
    status(
      conn.client.runTests(
        RunTestsRequest.create({
          code,
          language: Language.JAVASCRIPT,
          functionName: 'f',
          tests: Array.from({ length: tests }, () => ({ argsJson: '[1]', expectedJson: '1' })),
          ...(limits
            ? { limits: { wallMs: 0, cpuMs: 0, memoryMb: 0, outputBytes: 0, testTimeoutMs: 0, ...limits } }
            : {}),
        }),
        { timeout: 60_000 },
      ).response,
    );
  const set: Hostile[] = [
    {
      name: 'memory hog',
      send: () => run('function f(x) { const a = []; for (;;) a.push(new Array(1e6).fill(x)); }'),
    },
    { name: 'infinite loop', send: () => run('function f(x) { for (;;) {} }') },
    { name: 'output flood', send: () => run('function f(x) { for (;;) console.log("x".repeat(1e5)); }') },
    { name: '10 000 tests', send: () => run('function f(x) { return x; }', 10_000) },
    { name: '1 MiB of code', send: () => run(`function f(x) { return x; }\n//${'z'.repeat(1024 * 1024)}`) },
    {
      name: 'limits 2^32-1',
      send: () =>
        run('function f(x) { return x; }', 1, {
          wallMs: 2 ** 32 - 1,
          memoryMb: 2 ** 32 - 1,
          outputBytes: 2 ** 32 - 1,
        }),
    },
  ];
  return { set, warm: () => run('function f(x) { return x; }'), close: () => conn.close() };
}

/**
 * Sends each skill's hostile set `rounds` times to its real process and reports RSS: steady (after warm-up), after
 * every round, and the peak. The process must stay up and return near its steady level.
 */
export async function hostileAll(o: {
  rounds: number;
  draftModel: string;
  draftEnv?: Record<string, string>;
  /** Only these skills (draft, image, sandbox, serve — the HTTP API; default all). */
  only?: readonly string[];
}): Promise<HostileReport[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sarai-hostile-'));
  const reports: HostileReport[] = [];
  // [name, start, hostile set, idle ms before RSS is read after a round]
  type Entry = [string, () => Promise<SkillProcess>, (a: string) => ReturnType<typeof draftSet>, number?];
  const all: Entry[] = [
    [
      'draft',
      () =>
        startSkillProcess('draft', '@sarai/skill-draft', {
          ...CONTAINER_ENV.draft,
          MODEL_PATH: o.draftModel,
          ...o.draftEnv,
        }),
      draftSet,
    ],
    [
      'image',
      () =>
        startSkillProcess('image', '@sarai/skill-image', {
          ...CONTAINER_ENV.image,
          CACHE_DIR: join(dir, 'cache'),
        }),
      imageSet,
    ],
    [
      'sandbox',
      () => startSkillProcess('sandbox', '@sarai/skill-sandbox', CONTAINER_ENV.sandbox),
      sandboxSet,
    ],
    // V8 gives the heap of a 16 MiB JSON body back after some idle seconds (measured: 350 MiB right after the set,
    // 105 MiB 15 s later), so the HTTP server's RSS is read after 10 s without requests (steady) and after up to 30 s
    // (each round: as soon as it is within 32 MiB of steady).
    ['serve', () => startServe(join(dir, 'serve-state')), serveSet, 30_000],
  ];
  const skills = all.filter(([name]) => !o.only || o.only.includes(name));
  try {
    for (const [skill, start, makeSet, settleMs] of skills) {
      const p = await start();
      const { set, warm, close } = makeSet(p.address);
      try {
        const t0 = Date.now();
        for (let i = 0; i < 10; i++) await warm();
        if (settleMs) await new Promise((r) => setTimeout(r, 10_000));
        const steadyMb = Math.round(p.rssMb());
        const outcomes: Record<string, number> = {};
        const afterRoundsMb: number[] = [];
        for (let r = 0; r < o.rounds; r++) {
          for (const h of set) {
            const got = await h.send();
            // a violated expectation names its input
            const s = got.startsWith('unexpected') ? `${h.name}: ${got}` : got;
            outcomes[s] = (outcomes[s] ?? 0) + 1;
          }
          for (let i = 0; i < 3; i++) await warm();
          // up to settleMs idle, until RSS is within 32 MiB of steady (V8's memory reducer works in idle steps)
          for (const t = Date.now(); settleMs && Date.now() - t < settleMs && p.rssMb() > steadyMb + 32;)
            await new Promise((r) => setTimeout(r, 500));
          afterRoundsMb.push(Math.round(p.rssMb()));
        }
        reports.push({
          skill,
          sent: set.length * o.rounds,
          outcomes,
          steadyMb,
          afterRoundsMb,
          peakMb: Math.round(p.peakRssMb()),
          alive: p.alive(),
          seconds: Math.round((Date.now() - t0) / 1000),
          inputs: set.map((h) => h.name),
        });
      } finally {
        close();
        await p.stop();
      }
    }
    return reports;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
