// nx run @sarai/skill-draft:bench-swap — prints a table; not a test. Zero-downtime adapter hot swap (ADAPTERS_DIR):
// concurrent GenerateStream clients against the real service (child process, gRPC on loopback), in rounds that
// alternate a steady phase (no swaps) with a swap phase (signed adapters published + ReloadAdapters); everything is
// measured in this one run. Reports p50/p99 request latency and p99 time to first token of both phases and their
// ratio (goal: p99 during swaps ≤ 1.1 × steady), failed requests (goal 0), swap kinds and durations, the most model
// instances seen, and the service's RSS after 1 swap vs after 20.
// Env: BENCH_SWAP_PRESET (tiny | qwen2.5-0.5b; default tiny), BENCH_SWAP_CLIENTS (3), BENCH_SWAP_TOKENS (32),
//      BENCH_SWAP_ROUNDS (4), BENCH_SWAP_PHASE_MS (4000), BENCH_SWAP_TOTAL (20 swaps), BENCH_SWAP_PER_MODEL (4),
//      BENCH_THREADS (default 1 for tiny, else the available cores), BENCH_SWAP_RELEASE (ADAPTERS_RELEASE of the
//      service: auto | in-place | with-model; default auto, which is in-place under the image's UV_THREADPOOL_SIZE=1).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ADAPTER_MANIFEST_SCHEMA_ID,
  runBench,
  sha256File,
  sha256Text,
  type AdapterManifestIdentity,
  type BenchContext,
} from '@sarai/formats';
import { connectSkill, type GenReq, type SkillConnection } from '@sarai/proto';
import { PromptSigner, generateSigningKeyPair } from '@sarai/signer';
// The benchmark measures the package as built (dist), resolved through its own exports.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { availableCores, ensureModel, generateLoraAdapter, type ModelPreset } from '@sarai/skill-draft';

const PKG = fileURLToPath(new URL('../../', import.meta.url)); // packages/skill-draft (from out-tsc/bench)
const MODELS = join(PKG, '..', '..', 'models');
const PRESET = (process.env['BENCH_SWAP_PRESET'] ?? 'tiny') as ModelPreset;
const CLIENTS = Number(process.env['BENCH_SWAP_CLIENTS'] ?? 3);
const TOKENS = Number(process.env['BENCH_SWAP_TOKENS'] ?? 32);
const ROUNDS = Number(process.env['BENCH_SWAP_ROUNDS'] ?? 4);
const PHASE_MS = Number(process.env['BENCH_SWAP_PHASE_MS'] ?? 4000);
const TOTAL_SWAPS = Number(process.env['BENCH_SWAP_TOTAL'] ?? 20);
const PER_MODEL = Number(process.env['BENCH_SWAP_PER_MODEL'] ?? 4);
const THREADS = Number(process.env['BENCH_THREADS'] ?? (PRESET === 'tiny' ? 1 : availableCores()));
const RELEASE = process.env['BENCH_SWAP_RELEASE'] ?? 'auto';
const log = (m: string) => process.stderr.write(`bench-swap: ${m}\n`);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function req(prompt: string, seed: number): GenReq {
  return {
    prompt,
    maxTokens: TOKENS,
    stop: [],
    temperature: 0.7,
    grammar: '',
    adapter: '',
    logprobs: false,
    seed,
  };
}

// ---------- publishing (the trainer's layout: adapter + signed manifest, adapter renamed in last) ----------

interface Publisher {
  dir: string;
  trustedFile: string;
  /** Moves the next prepared adapter into the directory (three renames); returns its name. */
  publish(): Promise<string>;
}

/**
 * Prepares `count` signed adapters up front, so that publishing during the measurement is only renames and the
 * client process (which measures latency) does no GGUF writing or signing while the swaps happen.
 */
async function publisher(root: string, model: string, count: number): Promise<Publisher> {
  const dir = join(root, 'adapters');
  const staging = join(root, 'staging');
  await mkdir(staging, { recursive: true });
  await mkdir(dir, { recursive: true });
  const pair = await generateSigningKeyPair({ name: 'bench-swap', email: 'sarai@localhost' });
  const signer = await PromptSigner.fromKey(pair.privateKeyArmored);
  const trustedFile = join(root, 'trusted.asc');
  await writeFile(trustedFile, pair.publicKeyArmored);
  const baseSha = await sha256File(model);
  const baseBytes = (await stat(model)).size;
  const files: string[] = [];
  for (let n = 0; n < count; n++) {
    const file = n === 0 ? 'lora_20261124.gguf' : `lora_20261124-${n}.gguf`;
    const tmp = join(staging, file);
    await generateLoraAdapter({
      preset: PRESET,
      targets: ['attn_q', 'attn_output', 'ffn_up', 'ffn_down'],
      rank: 4,
      alpha: 8,
      seed: 500 + n,
      std: PRESET === 'tiny' ? 0.5 : 0.02,
      path: tmp,
    });
    const bytes = await readFile(tmp);
    // The fields of @sarai/formats' adapter manifest that the skill verifies (AdapterManifestIdentitySchema).
    const identity: AdapterManifestIdentity = {
      schema: ADAPTER_MANIFEST_SCHEMA_ID,
      adapter: { file, sha256: sha256Text(bytes), bytes: bytes.length },
      baseModel: { file: basename(model), sha256: baseSha, bytes: baseBytes, architecture: 'qwen2' },
    };
    const manifest =
      JSON.stringify({ ...identity, signer: { fingerprint: signer.fingerprint } }, null, 2) + '\n';
    const m = join(staging, file.replace(/\.gguf$/, '.manifest.json'));
    await writeFile(`${m}.asc`, await signer.signDetached(manifest));
    await writeFile(m, manifest);
    files.push(file);
  }
  let n = 0;
  return {
    dir,
    trustedFile,
    async publish() {
      const file = files[n++];
      if (!file) throw new Error('no prepared adapter left');
      const m = file.replace(/\.gguf$/, '.manifest.json');
      for (const f of [`${m}.asc`, m, file]) await rename(join(staging, f), join(dir, f));
      return file.replace(/\.gguf$/, '');
    },
  };
}

// ---------- service ----------

interface Service {
  child: ChildProcess;
  conn: SkillConnection;
  metricsPort: number;
  close(): Promise<void>;
}

async function startService(model: string, pub: Publisher): Promise<Service> {
  const child = tracked(
    spawn(process.execPath, [join(PKG, 'dist', 'main.js')], {
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '0',
        MODEL_PATH: model,
        THREADS: String(THREADS),
        IGNORE_EOS: 'true',
        CONTEXT_SIZE: '1024',
        MAX_TOKENS_LIMIT: '512',
        MAX_CONCURRENT: String(Math.max(CLIENTS, 1)),
        LOG_LEVEL: 'info',
        ADAPTERS_DIR: pub.dir,
        TRUSTED_KEYS_FILE: pub.trustedFile,
        ADAPTERS_RESCAN_MS: '0',
        ADAPTERS_PER_MODEL: String(PER_MODEL),
        ADAPTERS_RELEASE: RELEASE,
        // As in the image (Dockerfile).
        UV_THREADPOOL_SIZE: '1',
        MALLOC_ARENA_MAX: '2',
        MALLOC_MMAP_THRESHOLD_: '1048576',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const ports = await new Promise<{ port: number; metricsPort: number }>((resolve, reject) => {
    let buf = '';
    const ports = { port: 0, metricsPort: 0 };
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number; metricsPort?: number };
          if (j.msg === 'draft skill listening') Object.assign(ports, j);
          if (j.msg === 'model loaded') resolve(ports);
        } catch {
          /* not JSON */
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  const conn = connectSkill(`127.0.0.1:${ports.port}`, { timeoutMs: 600_000 });
  return {
    child,
    conn,
    metricsPort: ports.metricsPort,
    close: async () => {
      conn.close();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Sum of the samples whose line starts with `prefix` (e.g. `name{` or `name{label="x"`). */
async function metric(s: Service, prefix: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
  let total = 0;
  for (const line of body.split('\n')) if (line.startsWith(prefix)) total += Number(line.split(' ').at(-1));
  return total;
}

/** Current (VmRSS) or peak (VmHWM) resident memory of a process in MiB. */
async function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
}

/** Waits until replaced contexts and model instances are disposed (one instance left). */
async function settle(s: Service): Promise<void> {
  while ((await metric(s, 'sarai_draft_model_instances{')) > 1) await sleep(20);
  await sleep(200);
}

// ---------- load ----------

interface Sample {
  ms: number;
  ttft: number;
}

async function load(
  s: Service,
  ms: number,
  during?: () => Promise<void>,
): Promise<{ samples: Sample[]; failed: number }> {
  const samples: Sample[] = [];
  let failed = 0;
  let stop = false;
  let seq = 0;
  const client = async (c: number) => {
    while (!stop) {
      const t0 = performance.now();
      let first = 0;
      try {
        const call = s.conn.skill.generateStream(req(`Client ${c} asks question ${seq}:`, ++seq));
        let final = false;
        for await (const chunk of call.responses) {
          first ||= performance.now();
          final ||= chunk.final;
        }
        await call.status;
        if (!final) throw new Error('no final chunk');
        samples.push({ ms: performance.now() - t0, ttft: first - t0 });
      } catch (e) {
        failed += 1;
        log(`request failed: ${(e as Error).message}`);
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
  await Promise.all([sleep(ms), during?.()]);
  stop = true;
  await Promise.all(clients);
  return { samples, failed };
}

let CTX: BenchContext | undefined;
const tracked = <T extends ChildProcess>(child: T): T => (CTX ? CTX.track(child) : child);

async function main(ctx: BenchContext): Promise<{ text: string }> {
  CTX = ctx;
  const type = PRESET === 'tiny' ? 'Q8_0' : 'Q4_0';
  const model = (await ensureModel(MODELS, { preset: PRESET, type, seed: 1 })).path;
  const root = await mkdtemp(join(tmpdir(), 'sarai-bench-swap-'));
  ctx.onCleanup(() => rm(root, { recursive: true, force: true }));
  const pub = await publisher(root, model, TOTAL_SWAPS + 1);
  await pub.publish(); // lora_20261124: active from the start
  log(
    `${basename(model)}, ${CLIENTS} clients × ${TOKENS} tokens, ${THREADS} threads, ADAPTERS_PER_MODEL ${PER_MODEL}, ADAPTERS_RELEASE ${RELEASE}`,
  );
  const s = await startService(model, pub);
  const swapMs: number[] = [];
  let maxInstances = 1;
  let maxFiles = 0;
  let swaps = 0;
  const swap = async () => {
    const name = await pub.publish();
    const t0 = performance.now();
    const r = (await s.conn.skill.reloadAdapters({})).response;
    swapMs.push(performance.now() - t0);
    if (r.active !== name) throw new Error(`expected ${name} active, got ${r.active}`);
    swaps += 1;
    maxInstances = Math.max(maxInstances, await metric(s, 'sarai_draft_model_instances{'));
    maxFiles = Math.max(maxFiles, await metric(s, 'sarai_draft_adapter_files_loaded'));
  };
  try {
    await load(s, Math.min(PHASE_MS, 2000)); // warm-up
    const peakBefore = await rssMiB(s.child.pid as number, 'VmHWM');
    const kindsAtStart = {
      context: await metric(s, 'sarai_draft_adapter_swaps_total{kind="context"'),
      model: await metric(s, 'sarai_draft_adapter_swaps_total{kind="model"'),
    };
    await swap();
    await settle(s);
    const rss1 = await rssMiB(s.child.pid as number);
    const steady: Sample[] = [];
    const swapping: Sample[] = [];
    let failedSteady = 0;
    let failedSwapping = 0;
    const steadyRounds: number[] = [];
    const toggling: Sample[] = [];
    const togglingRounds: number[] = [];
    let failedToggling = 0;
    const swappingRounds: number[] = [];
    const remaining = TOTAL_SWAPS - 1;
    for (let round = 0; round < ROUNDS; round++) {
      const k = Math.floor(remaining / ROUNDS) + (round < remaining % ROUNDS ? 1 : 0);
      // The steady phase makes the same side calls at the same times (ListAdapters instead of ReloadAdapters, and
      // the metrics scrape), so the ratio isolates the swaps themselves.
      const a = await load(s, PHASE_MS, async () => {
        for (let i = 0; i < k; i++) {
          await sleep(PHASE_MS / (k + 1));
          await s.conn.skill.listAdapters({});
          await metric(s, 'sarai_draft_model_instances{');
        }
      });
      steady.push(...a.samples);
      steadyRounds.push(
        quantile(
          a.samples.map((x) => x.ms),
          0.99,
        ),
      );
      failedSteady += a.failed;
      const b = await load(s, PHASE_MS, async () => {
        for (let i = 0; i < k; i++) {
          await sleep(PHASE_MS / (k + 1));
          await swap();
        }
      });
      swapping.push(...b.samples);
      swappingRounds.push(
        quantile(
          b.samples.map((x) => x.ms),
          0.99,
        ),
      );
      failedSwapping += b.failed;
      // Diagnostic: the same number of default changes between two loaded adapters (ActivateAdapter): no
      // verification, no context or model loading, only the hand-over (new requests on another context while
      // in-flight ones finish on theirs, i.e. two decodes per step instead of one batched decode).
      const c = await load(s, PHASE_MS, async () => {
        const l = (await s.conn.skill.listAdapters({})).response;
        const names = l.adapters.map((x) => x.name);
        for (let i = 0; i < k; i++) {
          await sleep(PHASE_MS / (k + 1));
          await s.conn.skill.activateAdapter({ name: names[i % names.length] ?? '' });
          await metric(s, 'sarai_draft_model_instances{');
        }
        await s.conn.skill.activateAdapter({ name: l.active });
      });
      toggling.push(...c.samples);
      togglingRounds.push(
        quantile(
          c.samples.map((x) => x.ms),
          0.99,
        ),
      );
      failedToggling += c.failed;
      log(
        `round ${round + 1}/${ROUNDS}: ${a.samples.length} steady, ${b.samples.length} during ${k} swaps, ${c.samples.length} during ${k} ActivateAdapter`,
      );
    }
    await settle(s);
    const rss20 = await rssMiB(s.child.pid as number);
    const peak = await rssMiB(s.child.pid as number, 'VmHWM');
    const kinds = {
      context: (await metric(s, 'sarai_draft_adapter_swaps_total{kind="context"')) - kindsAtStart.context,
      model: (await metric(s, 'sarai_draft_adapter_swaps_total{kind="model"')) - kindsAtStart.model,
    };
    const p = (xs: Sample[], key: keyof Sample, q: number) =>
      quantile(
        xs.map((x) => x[key]),
        q,
      );
    const med = (xs: number[]) => quantile(xs, 0.5);
    const row = (label: string, f: (xs: Sample[]) => number) =>
      `| ${label} | ${f1(f(steady))} | ${f1(f(swapping))} | ${f2(f(swapping) / f(steady))} | ${f1(f(toggling))} | ${f2(f(toggling) / f(steady))} |`;
    const lines = [
      `### Adapter hot swap under load (${PRESET} ${type}, ${CLIENTS} streaming clients × ${TOKENS} tokens, ${THREADS} threads, ${ROUNDS} interleaved rounds of ${PHASE_MS} ms per phase)`,
      '',
      '| | steady | during swaps | ratio | during ActivateAdapter (diagnostic) | ratio |',
      '|---|---|---|---|---|---|',
      `| requests | ${steady.length} | ${swapping.length} | | ${toggling.length} | |`,
      `| failed requests (goal 0) | ${failedSteady} | ${failedSwapping} | | ${failedToggling} | |`,
      row('p50 latency ms', (xs) => p(xs, 'ms', 0.5)),
      row('p99 latency ms (goal ratio ≤ 1.1)', (xs) => p(xs, 'ms', 0.99)),
      `| median of per-round p99 latency ms | ${f1(med(steadyRounds))} | ${f1(med(swappingRounds))} | ${f2(med(swappingRounds) / med(steadyRounds))} | ${f1(med(togglingRounds))} | ${f2(med(togglingRounds) / med(steadyRounds))} |`,
      row('p99 time to first token ms', (xs) => p(xs, 'ttft', 0.99)),
      '',
      `| swaps (ADAPTERS_RELEASE ${RELEASE}) | in place (new context) | fresh model instance | ReloadAdapters p50 / max ms | most model instances | most adapter files on the current instance |`,
      '|---|---|---|---|---|---|',
      `| ${swaps} | ${kinds.context} | ${kinds.model} | ${f1(quantile(swapMs, 0.5))} / ${f1(Math.max(...swapMs))} | ${maxInstances} | ${maxFiles} |`,
      '',
      `| RSS after 1 swap MiB | RSS after ${swaps} swaps MiB | Δ MiB | ratio | peak RSS before swaps MiB | peak RSS MiB |`,
      '|---|---|---|---|---|---|',
      `| ${f1(rss1)} | ${f1(rss20)} | ${f1(rss20 - rss1)} | ${f2(rss20 / rss1)} | ${f1(peakBefore)} | ${f1(peak)} |`,
    ];
    Object.assign(ctx.results, {
      preset: PRESET,
      type,
      clients: CLIENTS,
      tokens: TOKENS,
      threads: THREADS,
      rounds: ROUNDS,
      p50Ms: { steady: p(steady, 'ms', 0.5), swapping: p(swapping, 'ms', 0.5) },
      p99Ms: { steady: p(steady, 'ms', 0.99), swapping: p(swapping, 'ms', 0.99) },
      p99Ratio: p(swapping, 'ms', 0.99) / p(steady, 'ms', 0.99),
      medianRoundP99Ratio: med(swappingRounds) / med(steadyRounds),
      failed: { steady: failedSteady, swapping: failedSwapping, toggling: failedToggling },
      swaps,
      swapKinds: kinds,
      release: RELEASE,
      maxAdapterFiles: maxFiles,
      rssMiB: { after1: rss1, afterAll: rss20, peak },
    });
    return { text: lines.join('\n') };
  } finally {
    await s.close();
    await rm(root, { recursive: true, force: true });
  }
}

void runBench({ packageDir: PKG, bench: 'bench-swap' }, main);
