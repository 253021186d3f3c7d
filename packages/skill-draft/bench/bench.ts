// nx run @sarai/skill-draft:bench — prints a table; not a test. Everything is measured in this one run, on the same
// machine, with the same thread count, interleaved round by round so that load from other work on the box hits every
// contender alike; medians are reported.
//   decode tok/s: llama-bench (llama.cpp built from node-llama-cpp's bundled source) vs plain node-llama-cpp
//     in-process vs the draft service over gRPC (Generate and GenerateStream), for both binary flavours
//     (prebuilt = the npm CPU binaries; openmp = scripts/openmp-binaries.mjs);
//   aggregate tok/s with 1, 2 and 4 concurrent streams; prompt evaluation of a reflection-shaped follow-up with and
//   without prefix reuse; container start → SERVING, RSS ÷ model file size and decode, against llama-bench on the host
//   and llama-bench run in the same hardened container (what the container itself costs llama.cpp).
// Env: BENCH_THREADS (default: available cores), BENCH_TOKENS (default 128), BENCH_ROUNDS (default 3),
//      BENCH_SKIP_CONTAINER=1, BENCH_IMAGE (default sarai/skill-draft:<version>).
import { execFile, execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runBench, type BenchContext } from '@sarai/formats';
import { connectSkill, grpcHealthV1, type GenReq, type SkillConnection } from '@sarai/proto';
import { hardenedRunArgs } from '@sarai/testkit';
// The benchmark measures the package as built (dist), resolved through its own exports.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { DraftEngine, availableCores, ensureModel } from '@sarai/skill-draft';

const run = promisify(execFile);
const PKG = fileURLToPath(new URL('../../', import.meta.url)); // packages/skill-draft (from out-tsc/bench)
const MODELS = join(PKG, '..', '..', 'models');
const THREADS = Number(process.env['BENCH_THREADS'] ?? availableCores());
const N = Number(process.env['BENCH_TOKENS'] ?? 128);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const version = (JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as { version: string }).version;
const IMAGE = process.env['BENCH_IMAGE'] ?? `sarai/skill-draft:${version}`;
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
let OPENMP_MODULE = '';
let CTX: BenchContext | undefined;
/** Every process/container this bench starts is registered here, so a failure or ^C leaves none behind. */
const tracked = <T extends ChildProcess>(child: T): T => (CTX ? CTX.track(child) : child);
/** The last non-empty stdout line of a helper script (its build logs go to stderr; this tolerates strays). */
const lastLine = (out: string) =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .pop() ?? '';

const median = (xs: number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** The decode prompt every contender gets (llama.cpp's generate loop too). */
const PROMPT = 'The quick brown fox jumps over the lazy dog.';

function req(prompt: string, maxTokens: number, extra: Partial<GenReq> = {}): GenReq {
  return { prompt, maxTokens, stop: [], temperature: 0, grammar: '', adapter: '', logprobs: false, ...extra };
}

// ---------- contenders ----------

interface InProc {
  child: ChildProcess;
  decode(n: number): Promise<number>;
  close(): void;
}

async function startInProc(binaries: string, model: string): Promise<InProc> {
  const child = tracked(
    fork(
      join(PKG, 'out-tsc', 'bench', 'inproc-worker.js'),
      [binaries, model, String(THREADS), OPENMP_MODULE],
      {
        env: { ...process.env, ...(binaries === 'openmp' ? { UV_THREADPOOL_SIZE: '1' } : {}) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    ),
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`in-process worker (${binaries}) exited with ${code}`)));
  });
  return {
    child,
    decode: (n) =>
      new Promise((resolve) => {
        child.once('message', (m: { rate: number }) => resolve(m.rate));
        child.send({ decode: n });
      }),
    close: () => child.send({ exit: true }),
  };
}

interface Service {
  child: ChildProcess;
  conn: SkillConnection;
  close(): Promise<void>;
}

async function startService(
  binaries: string,
  model: string,
  env: Record<string, string> = {},
): Promise<Service> {
  const child = tracked(
    spawn(process.execPath, [join(PKG, 'dist', 'main.js')], {
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '-1',
        MODEL_PATH: model,
        THREADS: String(THREADS),
        LLAMA_BINARIES: binaries,
        LLAMA_OPENMP_MODULE: OPENMP_MODULE,
        IGNORE_EOS: 'true',
        CONTEXT_SIZE: '2048',
        MAX_CONCURRENT: '4',
        LOG_LEVEL: 'info',
        ...(binaries === 'openmp' ? { UV_THREADPOOL_SIZE: '1' } : {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    let port = 0;
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg === 'draft skill listening') port = j.port ?? 0;
          if (j.msg === 'model loaded') resolve(port);
        } catch {
          /* not JSON */
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`service (${binaries}) exited with ${code}`)));
  });
  const conn = connectSkill(`127.0.0.1:${port}`, { timeoutMs: 600_000 });
  return {
    child,
    conn,
    close: async () => {
      conn.close();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Unary Generate: server-measured decode rate and client end-to-end tokens ÷ wall time. */
async function unary(s: Service, n: number) {
  const t0 = performance.now();
  const { response } = await s.conn.skill.generate(req(PROMPT, n));
  const wall = (performance.now() - t0) / 1000;
  return {
    decode: response.decodeTokensPerSecond,
    e2e: response.tokensGenerated / wall,
    ramMb: response.ramMb,
  };
}

/** GenerateStream seen by the client: (chunks − 1) ÷ time from the first to the last chunk. */
async function stream(s: Service, n: number, prompt = PROMPT) {
  const call = s.conn.skill.generateStream(req(prompt, n));
  let chunks = 0;
  let first = 0;
  let last = 0;
  for await (const c of call.responses) {
    if (c.final) continue;
    last = performance.now();
    if (chunks === 0) first = last;
    chunks += 1;
  }
  return { rate: (chunks - 1) / ((last - first) / 1000), chunks };
}

/** llama-bench's arguments for `tg<n>` (decode only, one repetition, JSON). */
const tgArgs = (model: string, n: number) => [
  '-m',
  model,
  '-t',
  String(THREADS),
  '-p',
  '0',
  '-n',
  String(n),
  '-r',
  '1',
  '-o',
  'json',
];

/** The `tg<n>` tokens/s of llama-bench's JSON output. */
function tgRate(stdout: string, n: number): number {
  const rows = JSON.parse(stdout) as Array<{ avg_ts: number; n_gen: number }>;
  return rows.find((r) => r.n_gen === n)?.avg_ts ?? NaN;
}

async function llamaBench(bin: string | undefined, model: string, n: number): Promise<number> {
  if (!bin) return NaN;
  const { stdout } = await run(bin, tgArgs(model, n), { maxBuffer: 16 * 1024 * 1024 });
  return tgRate(stdout, n);
}

/**
 * llama.cpp's own generation loop (the `llama-batched` example, one sequence, built next to llama-bench): decode plus
 * sampling a token each step (top-k 1, i.e. greedy as the bench's requests), tokens/s from its own timer. What
 * llama.cpp itself reaches where llama-bench `tg` decodes without sampling.
 */
async function llamaGenerate(bin: string | undefined, model: string, n: number): Promise<number> {
  if (!bin) return NaN;
  const { stderr } = await run(
    join(dirname(bin), 'llama-batched'),
    ['-m', model, '-t', String(THREADS), '-np', '1', '--top-k', '1', '-p', PROMPT, '-n', String(n + 12)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const m = /decoded \d+ tokens in [\d.]+ s, speed: ([\d.]+) t\/s/.exec(stderr);
  return m ? Number(m[1]) : NaN;
}

/**
 * llama.cpp's own ceiling for batching k streams on this machine: one llama_decode of k tokens (llama-bench pp<k>,
 * tokens/s) is what k concurrent sequences decoding one token each cost at best; ÷ tg = the most k streams can gain.
 */
async function llamaBenchBatch(bin: string | undefined, model: string, k: number): Promise<number> {
  if (!bin) return NaN;
  const { stdout } = await run(
    bin,
    ['-m', model, '-t', String(THREADS), '-p', String(k), '-n', '0', '-r', '5', '-o', 'json'],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const rows = JSON.parse(stdout) as Array<{ avg_ts: number; n_prompt: number; n_gen: number }>;
  return rows.find((r) => r.n_prompt === k && r.n_gen === 0)?.avg_ts ?? NaN;
}

/**
 * llama.cpp's own multi-sequence decode (llama-batched-bench, built next to llama-bench): aggregate generation tok/s
 * of `k` sequences decoding together (16-token prompts, 64 tokens each, no flash attention as in the service), for
 * k = 1 and `k`. Their ratio is the most `k` concurrent streams can gain on this machine with this build.
 */
async function llamaBatched(bin: string | undefined, model: string, k: number): Promise<[number, number]> {
  if (!bin) return [NaN, NaN];
  const batched = join(dirname(bin), 'llama-batched-bench');
  if (!existsSync(batched)) return [NaN, NaN];
  // llama.cpp logs to stderr; the jsonl rows are the stdout lines that parse.
  const { stdout } = await run(
    batched,
    [
      ...['-m', model, '-t', String(THREADS), '-c', '2048', '-b', '512', '-ub', '512'],
      ...['-npp', '16', '-ntg', '64', '-npl', `1,${k}`, '-fa', 'off', '--output-format', 'jsonl'],
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const rows = stdout
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { pl: number; speed_tg: number }];
      } catch {
        return [];
      }
    })
    .filter((r) => typeof r.pl === 'number');
  return [rows.find((r) => r.pl === 1)?.speed_tg ?? NaN, rows.find((r) => r.pl === k)?.speed_tg ?? NaN];
}

// ---------- sections ----------

async function concurrency(s: Service, streams: number): Promise<number> {
  const n = 64;
  const t0 = performance.now();
  const done = await Promise.all(
    Array.from({ length: streams }, (_, i) =>
      stream(s, n, `Stream ${i}: the quick brown fox jumps over the lazy dog.`),
    ),
  );
  const tokens = done.reduce((a, d) => a + d.chunks, 0);
  return tokens / ((performance.now() - t0) / 1000);
}

async function prefixReuse(model: string) {
  const out: Record<string, { promptMs: number; evaluated: number; reused: number }> = {};
  const words = Array.from({ length: 120 }, (_, i) => `word${i % 37}`).join(' ');
  const prompt = `<|im_start|>user\nSummarise: ${words}<|im_end|>\n<|im_start|>assistant\n`;
  for (const reuse of [true, false]) {
    const engine = await DraftEngine.load({
      modelPath: model,
      threads: THREADS,
      contextSize: 2048,
      sequences: 4,
      maxQueue: 4,
      ignoreEos: true,
      prefixReuse: reuse,
    });
    try {
      const ms: number[] = [];
      let last = { promptTokensEvaluated: 0, promptTokensReused: 0 };
      for (let r = 0; r < ROUNDS; r++) {
        const first = await engine.generate({ prompt: `${prompt}(${r})`, maxTokens: 64 });
        const follow = `${prompt}(${r})${first.text}<|im_end|>\n<|im_start|>user\nCritique your answer and fix it.<|im_end|>\n<|im_start|>assistant\n`;
        const second = await engine.generate({ prompt: follow, maxTokens: 1 });
        ms.push(second.promptEvalMs);
        last = second;
      }
      out[reuse ? 'with' : 'without'] = {
        promptMs: median(ms),
        evaluated: last.promptTokensEvaluated,
        reused: last.promptTokensReused,
      };
    } finally {
      await engine.dispose();
    }
  }
  return out;
}

const HARDENED = { cpus: 2, memoryMiB: 800, pidsLimit: 128 } as const;

/**
 * llama-bench tg run as the image runs (same hardening and CPU quota, in the image): the binary's folder and the host
 * libraries it links outside it mounted read-only. NaN without a llama-bench.
 */
async function llamaBenchInContainer(bin: string | undefined, model: string, n: number): Promise<number> {
  if (!bin) return NaN;
  const name = `sarai-draft-bench-${process.pid}-llama-bench`;
  CTX?.trackContainer(name);
  const { stdout } = await run(
    'docker',
    [
      'run',
      '--rm',
      '--name',
      name,
      ...hardenedRunArgs(HARDENED),
      '-e',
      'LD_LIBRARY_PATH=/llama-bench:/llama-bench-libs',
      ...llamaBenchMounts(bin),
      '-v',
      `${model}:/models/model.gguf:ro`,
      '--entrypoint',
      `/llama-bench/${basename(bin)}`,
      IMAGE,
      ...tgArgs('/models/model.gguf', n),
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return tgRate(stdout, n);
}

let mounts: { bin: string; args: string[] } | undefined;

/** `-v` arguments for llama-bench's folder and the host libraries it links outside it (ldd once per binary). */
function llamaBenchMounts(bin: string): string[] {
  if (mounts?.bin !== bin) {
    const dir = dirname(bin);
    const libs = execFileSync('ldd', [bin], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /=>\s+(\/\S+)/.exec(l)?.[1])
      .filter((p): p is string => !!p && !p.startsWith(dir));
    mounts = {
      bin,
      args: [
        '-v',
        `${dir}:/llama-bench:ro`,
        ...libs.flatMap((l) => ['-v', `${l}:/llama-bench-libs/${basename(l)}:ro`]),
      ],
    };
  }
  return mounts.args;
}

/**
 * Starts the image hardened, times start → SERVING, then measures decode in {@link ROUNDS} rounds interleaved with
 * llama-bench (median of each), as the other decode rows.
 */
async function container(model: string, binaries: string, bench: string | undefined) {
  const name = `sarai-draft-bench-${process.pid}-${binaries}`;
  CTX?.trackContainer(name);
  const t0 = performance.now();
  await run('docker', [
    'run',
    '-d',
    '--name',
    name,
    ...hardenedRunArgs(HARDENED),
    '-e',
    'IGNORE_EOS=true',
    '-e',
    'LOG_LEVEL=warn',
    '-e',
    `LLAMA_BINARIES=${binaries}`,
    '-v',
    `${model}:/models/model.gguf:ro`,
    '-p',
    '127.0.0.1::50051',
    IMAGE,
  ]);
  try {
    const { stdout } = await run('docker', ['port', name, '50051/tcp']);
    const port = Number(stdout.trim().split('\n')[0]?.split(':').pop());
    const conn = connectSkill(`127.0.0.1:${port}`, { timeoutMs: 600_000 });
    try {
      for (;;) {
        const ok = await conn.grpcHealth
          .check({ service: '' }, { timeout: 1000 })
          .response.then((r) => r.status === grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING)
          .catch(() => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const startMs = performance.now() - t0;
      // Warm-up as for the other contenders: the first generations after start run far below steady speed.
      await conn.skill.generate(req(PROMPT, 16));
      await conn.skill.generate(req(PROMPT, 64));
      const decode: number[] = [];
      const lb: number[] = [];
      const lbContainer: number[] = [];
      let rssMb = 0;
      for (let round = 0; round < ROUNDS; round++) {
        lb.push(await llamaBench(bench, model, N));
        lbContainer.push(await llamaBenchInContainer(bench, model, N).catch(() => NaN));
        const { response } = await conn.skill.generate(req(PROMPT, N));
        decode.push(response.decodeTokensPerSecond);
        rssMb = Math.max(rssMb, response.ramMb);
      }
      const stats = await run('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', name]);
      return {
        startMs,
        rssMb,
        decode: median(decode),
        llamaBench: median(lb),
        llamaBenchInContainer: median(lbContainer),
        memUsage: stats.stdout.trim(),
      };
    } finally {
      conn.close();
    }
  } finally {
    await run('docker', ['rm', '-f', name]).catch(() => undefined);
  }
}

// ---------- main ----------

async function main(ctx: BenchContext): Promise<{ text: string }> {
  CTX = ctx;
  const R = ctx.results as {
    decode?: Record<string, Record<string, Record<string, number>>>;
    concurrency?: Record<string, Record<string, Record<string, number>>>;
    prefixReuse?: unknown;
    container?: Record<string, unknown>;
  };
  R.decode = {};
  R.concurrency = {};
  Object.assign(ctx.results, { threads: THREADS, tokens: N, rounds: ROUNDS });
  log(`threads ${THREADS}, ${N} tokens, ${ROUNDS} rounds, load ${loadavg()}`);
  const files = {
    Q4_0: (await ensureModel(MODELS, { preset: 'qwen2.5-0.5b', type: 'Q4_0', seed: 1 })).path,
    Q8_0: (await ensureModel(MODELS, { preset: 'qwen2.5-0.5b', type: 'Q8_0', seed: 1 })).path,
  };
  let bench: string | undefined;
  try {
    bench = lastLine(
      execFileSync(process.execPath, [join(PKG, 'scripts', 'build-llama-bench.mjs')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 64 * 1024 * 1024,
      }),
    );
  } catch {
    log('llama-bench could not be built (needs git, cmake, g++): its column stays empty');
  }
  let openmp = true;
  try {
    OPENMP_MODULE = lastLine(
      execFileSync(process.execPath, [join(PKG, 'scripts', 'openmp-binaries.mjs')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 64 * 1024 * 1024,
      }),
    );
    if (!existsSync(OPENMP_MODULE))
      throw new Error(`openmp-binaries printed no module path: ${OPENMP_MODULE}`);
  } catch {
    openmp = false;
    log('no OpenMP build: only the prebuilt binaries are measured');
  }
  const flavours = openmp ? ['prebuilt', 'openmp'] : ['prebuilt'];

  const lines: string[] = [];
  const row = (cells: Array<string | number>) => lines.push(`| ${cells.join(' | ')} |`);

  lines.push(
    `### Decode (greedy, ${N} tokens, ${THREADS} threads; median of ${ROUNDS} interleaved rounds)`,
    '',
  );
  row([
    'file',
    'binaries',
    'llama-bench tg',
    'in-process',
    'Generate (server)',
    'Generate e2e',
    'Stream (client)',
    'gRPC ÷ in-process',
    'gRPC ÷ llama-bench',
    'llama.cpp generate loop (llama-batched, greedy)',
    'gRPC ÷ that',
  ]);
  row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']);
  const concurrencyRows: string[] = [];
  for (const [type, file] of Object.entries(files)) {
    const size = statSync(file).size / 2 ** 20;
    log(`${type} (${size.toFixed(0)} MiB): starting contenders`);
    const inproc: Record<string, InProc> = {};
    const services: Record<string, Service> = {};
    for (const f of flavours) {
      inproc[f] = await startInProc(f, file);
      services[f] = await startService(f, file);
    }
    const r: Record<string, { lb: number[]; ip: number[]; un: number[]; e2e: number[]; st: number[] }> = {};
    for (const f of flavours) r[f] = { lb: [], ip: [], un: [], e2e: [], st: [] };
    const lb: number[] = [];
    const gen: number[] = [];
    // Warm-up (first-touch of mmapped weights, repacking caches).
    for (const f of flavours) {
      await (inproc[f] as InProc).decode(16);
      await unary(services[f] as Service, 16);
    }
    for (let round = 0; round < ROUNDS; round++) {
      log(`${type} round ${round + 1}/${ROUNDS} (load ${loadavg()})`);
      lb.push(await llamaBench(bench, file, N));
      gen.push(await llamaGenerate(bench, file, N).catch(() => NaN));
      for (const f of flavours) {
        const x = r[f] as (typeof r)[string];
        x.ip.push(await (inproc[f] as InProc).decode(N));
        const u = await unary(services[f] as Service, N);
        x.un.push(u.decode);
        x.e2e.push(u.e2e);
        x.st.push((await stream(services[f] as Service, N)).rate);
      }
    }
    for (const f of flavours) {
      const x = r[f] as (typeof r)[string];
      const ip = median(x.ip);
      const un = median(x.un);
      const st = median(x.st);
      const base = median(lb);
      const loop = median(gen);
      (R.decode[type] ??= {})[f] = {
        llamaBench: base,
        llamaGenerateLoop: loop,
        grpcOverLlamaGenerateLoop: un / loop,
        inProcess: ip,
        generateServer: un,
        generateE2e: median(x.e2e),
        streamClient: st,
        grpcOverInProcess: un / ip,
        grpcOverLlamaBench: un / base,
      };
      row([
        type,
        f,
        f1(base),
        f1(ip),
        f1(un),
        f1(median(x.e2e)),
        f1(st),
        `${f2(un / ip)} (stream ${f2(st / ip)})`,
        `${f2(un / base)} (stream ${f2(st / base)})`,
        f1(loop),
        `${f2(un / loop)} (stream ${f2(st / loop)})`,
      ]);
    }
    // llama.cpp's batching ceilings, measured next to the streams (same load): its own 4-sequence decode ÷ one
    // sequence (llama-batched-bench), and one 4-token llama_decode ÷ tg (llama-bench pp4).
    const pp4 = await llamaBenchBatch(bench, file, 4).catch(() => NaN);
    const ceiling = pp4 / median(lb);
    const [b1, b4] = await llamaBatched(bench, file, 4).catch((): [number, number] => [NaN, NaN]);
    for (const f of flavours) (inproc[f] as InProc).close();
    for (const f of flavours) {
      // One flavour at a time, the other service closed (its idle threads must not share the cores); within it, 1, 2
      // and 4 streams interleaved round by round so that load from other work hits each alike; medians.
      const rounds: number[][] = [[], [], []];
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, k] of [1, 2, 4].entries())
          rounds[i]?.push(await concurrency(services[f] as Service, k));
      }
      const agg = rounds.map(median);
      (R.concurrency[type] ??= {})[f] = {
        streams1: agg[0] as number,
        streams2: agg[1] as number,
        streams4: agg[2] as number,
        ratio4to1: (agg[2] as number) / (agg[0] as number),
        llamaBenchPp4: pp4,
        llamaCeiling4to1: ceiling,
        llamaBatched1: b1,
        llamaBatched4: b4,
        llamaBatchedCeiling4to1: b4 / b1,
      };
      concurrencyRows.push(
        `| ${type} | ${f} | ${agg.map(f1).join(' | ')} | ${f2((agg[2] as number) / (agg[0] as number))} | ${f1(b1)} / ${f1(b4)} (${f2(b4 / b1)}) | ${f1(pp4)} (${f2(ceiling)}) |`,
      );
      await (services[f] as Service).close();
    }
  }

  lines.push(
    '',
    '### Aggregate decode with concurrent GenerateStream calls (64 tokens each, one context, batched sequences)',
    '',
  );
  lines.push(
    '| file | binaries | 1 stream tok/s | 2 streams | 4 streams | 4 ÷ 1 | llama-batched-bench 1 / 4 sequences tok/s (4 ÷ 1: llama.cpp ceiling) | llama-bench pp4 tok/s (÷ tg) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  lines.push(...concurrencyRows);

  log('prefix reuse');
  const pr = await prefixReuse(files.Q4_0);
  R.prefixReuse = pr;
  lines.push('', '### Reflection-shaped follow-up (prompt + 64-token answer + critique), Q4_0, prebuilt', '');
  lines.push(
    '| prefix reuse | prompt eval ms | tokens evaluated | tokens reused |',
    '| --- | ---: | ---: | ---: |',
  );
  for (const k of ['with', 'without']) {
    const v = pr[k];
    if (v) lines.push(`| ${k} | ${f1(v.promptMs)} | ${v.evaluated} | ${v.reused} |`);
  }

  if (process.env['BENCH_SKIP_CONTAINER'] !== '1' && existsSync('/var/run/docker.sock')) {
    lines.push(
      '',
      `### Container ${IMAGE} (hardened, --cpus 2 --memory 800m, THREADS from the CPU quota; openmp = the image's default)`,
      '',
    );
    lines.push(
      '| file | binaries | file MiB | start → SERVING ms | RSS MiB | RSS ÷ file | docker mem usage | decode tok/s | llama-bench tg (same rounds) | ÷ llama-bench | llama-bench in the same container | ÷ that |',
      '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [type, file] of Object.entries(files)) {
      const size = statSync(file).size / 2 ** 20;
      for (const binaries of ['openmp', 'prebuilt']) {
        log(`container ${type} ${binaries}`);
        try {
          const c = await container(file, binaries, bench);
          const lb = c.llamaBench;
          const lbc = c.llamaBenchInContainer;
          (R.container ??= {})[`${type}/${binaries}`] = {
            ...c,
            fileMiB: size,
            overLlamaBench: c.decode / lb,
            overLlamaBenchInContainer: c.decode / lbc,
          };
          lines.push(
            `| ${type} | ${binaries} | ${f1(size)} | ${c.startMs.toFixed(0)} | ${f1(c.rssMb)} | ${f2(c.rssMb / size)} | ${c.memUsage} | ${f1(c.decode)} | ${f1(lb)} | ${f2(c.decode / lb)} | ${f1(lbc)} | ${f2(c.decode / lbc)} |`,
          );
        } catch (e) {
          lines.push(
            `| ${type} | ${binaries} | ${f1(size)} | failed: ${(e as Error).message.split('\n')[0]} | | | | | | | | |`,
          );
        }
      }
    }
  }
  lines.push('', `load average at the end: ${loadavg()} (2 cores shared with other work)`);
  return { text: lines.join('\n') };
}

void runBench({ packageDir: PKG }, main);
