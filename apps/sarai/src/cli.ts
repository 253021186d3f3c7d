import { connectSkill, grpcHealthV1, type RpcError } from '@sarai/proto';
import { runCli as runSignerCli } from '@sarai/signer';
import { verifyLoopAudit, type LoopResult } from '@sarai/loop-core';
import { readFile } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';
import { benchOmniLoop } from './commands/bench.js';
import { loraCommand } from './commands/lora.js';
import { validateAutocorrection } from './commands/validate.js';
import { int, num, optional, parse } from './args.js';
import { CliError, reportError, usageError } from './errors.js';
import type { Io } from './io.js';
import { openSession, statePaths } from './session.js';
import { SERVE_USAGE, serveCommand } from './serve/command.js';

export const USAGE = `Usage: sarai <command> [options]

Commands:
  loop "prompt" [--image FILE] [--embedded] [--iterations N] [--threshold X] [--max-tokens N] [--seed N]
       [--deadline MS] [--json]
      Answer a prompt with the Omni-Loop (draft → signed self-reflection → improved answer, up to 3 iterations).
      Skills come from the skill registry (packages/skill-registry/skills/*.json, plus SARAI_SKILLS_FILE) and are
      reached at SARAI_SKILL_<NAME>_ADDR (default: the compose names, e.g. skill-draft:50051). --embedded starts
      every registered skill as a local process on loopback, the draft skill with a generated stand-in model
      (random weights: its answers are noise). Point SARAI_DRAFT_MODEL at a real GGUF file
      for real answers; SARAI_FALLBACK_MODEL is the local model used when the draft skill is down or slower than
      --deadline (default 10000 ms per draft call, the seed's).
  loop --test [--embedded] [--deadline MS]
      Smoke test of a deployment: health of every registered skill, one Generate, one PreprocessImage, one signed
      loop.
${SERVE_USAGE}  validate-autocorrection [--dataset FILE] [--embedded] [--iterations N] [--max-tokens N] [--deadline MS] [--json]
      Run a task set with external checkers; report wrong→right, right→wrong and the net auto-correction rate.
  image cache-stats [--addr HOST:PORT] [--json]
      Hit/miss/eviction statistics of skill-image's shared cache.
  audit verify LOG [--trusted FILE ...] [--interactions FILE]
      Verify the audit log's hash chain; with --trusted, every signature (over its prompt, from --interactions).
  bench omni-loop [--iterations N] [--embedded] [--json]
      Latency P50/P99 per iteration and per loop, RAM P99 of host + skills, against the seed's targets.
  lora nightly [--local] [--base FILE] [-- trainer options]
      Train, sign and publish a LoRA adapter from the interaction log (hardened container with no network, or
      --local); exit 0 trained, 3 nothing to train, 4 locked (cron-friendly).
  keys generate [--out DIR]
      Generate a development Ed25519 signing key pair (default: <state>/keys).

Environment: SARAI_STATE_DIR (default ./state: audit.jsonl, interactions.jsonl, keys/, image_cache/),
SARAI_SIGNING_KEY_FILE / SARAI_SIGNING_PASSPHRASE / GPG_KEY_ID (signing key; a dev key is generated otherwise).
Exit status: 0 ok, 1 failed, 2 usage or configuration error.
`;

const STAND_IN_NOTICE =
  'note: embedded mode answers with a generated stand-in model (random weights): the text below is noise.\n' +
  '      For real answers set SARAI_DRAFT_MODEL=/path/to/model.gguf (e.g. Qwen2.5-0.5B-Instruct Q4_0).\n';

function printLoop(io: Io, r: LoopResult, fingerprint: string): void {
  io.stdout(
    `SARAi Omni-Loop: ${r.iterations.length} iteration(s), stopped: ${r.stopReason}, ${Math.round(r.totalLatencyMs)} ms, ` +
      `fallback used: ${r.fallbackUsed ? 'yes' : 'no'}, auto-corrected: ${r.autoCorrected ? 'yes' : 'no'}\n`,
  );
  if (r.image) {
    io.stdout(
      `image: ${r.image.width}x${r.image.height} ${r.image.format} pHash ${r.image.perceptualHash} (${r.image.cache}, via ${r.image.source}) → ${r.image.path}\n`,
    );
  }
  for (const it of r.iterations) {
    const signed = it.promptSignature ? `, reflection prompt signed by ${fingerprint.slice(-16)}` : '';
    io.stdout(
      `\n[${it.iteration}] ${it.source}, confidence ${it.confidence.toFixed(3)}, ${Math.round(it.latencyMs)} ms${signed}\n`,
    );
    for (const c of it.checks)
      io.stdout(`    check ${c.checker}: ${c.pass ? 'pass' : `FAIL (${c.feedback})`}\n`);
    io.stdout(`    ${it.response.split('\n').join('\n    ') || '(empty)'}\n`);
  }
  io.stdout(`\nAnswer:\n${r.text}\n`);
}

async function cmdLoop(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      image: { type: 'string' },
      embedded: { type: 'boolean' },
      test: { type: 'boolean' },
      iterations: { type: 'string' },
      threshold: { type: 'string' },
      'max-tokens': { type: 'string' },
      seed: { type: 'string' },
      deadline: { type: 'string' },
      json: { type: 'boolean' },
    },
    1,
  );
  if (values.help) return (io.stdout(USAGE), 0);
  if (values.test) {
    return smokeTest(io, Boolean(values.embedded), int(values.deadline, 'deadline', 100, 600_000));
  }
  const prompt = positionals[0];
  if (!prompt || !prompt.trim()) throw usageError('loop needs a prompt: sarai loop "your question"');
  let image: Uint8Array | undefined;
  if (typeof values.image === 'string') {
    image = await readFile(values.image).catch((e: Error) => {
      throw new CliError('CLI_CONFIG', `cannot read image ${values.image}: ${e.message}`);
    });
  }
  const session = await openSession(io, {
    embedded: Boolean(values.embedded),
    ...optional('iterations', int(values.iterations, 'iterations', 1, 3)),
    ...optional('threshold', num(values.threshold, 'threshold', 0, 1)),
    ...optional('maxTokens', int(values['max-tokens'], 'max-tokens', 1, 4096)),
    ...optional('seed', int(values.seed, 'seed', 0, 2 ** 32 - 1)),
    ...optional('draftDeadlineMs', int(values.deadline, 'deadline', 100, 600_000)),
    say: (t) => io.stderr(t),
  });
  try {
    if (session.deployment.standIn) io.stderr(STAND_IN_NOTICE);
    const r = await session.loop.run(prompt, image ? { image } : {});
    if (values.json) io.stdout(JSON.stringify(r, null, 2) + '\n');
    else printLoop(io, r, session.signer.fingerprint);
    return 0;
  } finally {
    await session.close();
  }
}

/** A small valid RGB PNG (a gradient), made here so the smoke test needs no image library on the host. */
function testPng(width = 32, height = 24): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3);
    for (let x = 0; x < width; x++) raw.set([(x * 255) / width, (y * 255) / height, 128], row + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function smokeTest(io: Io, embedded: boolean, draftDeadlineMs?: number): Promise<number> {
  const session = await openSession(io, {
    embedded,
    ...optional('draftDeadlineMs', draftDeadlineMs),
    iterations: 2,
    threshold: 1,
    maxTokens: 16,
    say: (t) => io.stderr(t),
  });
  let failed = 0;
  const step = async (name: string, fn: () => Promise<string>) => {
    try {
      io.stdout(`ok    ${name}: ${await fn()}\n`);
    } catch (e) {
      failed += 1;
      io.stdout(`FAIL  ${name}: ${(e as Error).message}\n`);
    }
  };
  try {
    // Every registered skill (the embedded ones started, or every one the deployment runs), then one call per role.
    for (const name of session.deployment.skills ?? session.pool.registry.names()) {
      const h = session.pool.get(name);
      await step(`${name} health (${h.address})`, async () => {
        const service = session.pool.entry(name)?.healthService ?? '';
        const { response } = await h.conn.grpcHealth.check({ service }, { timeout: 3_000 });
        const s = grpcHealthV1.HealthCheckResponse_ServingStatus[response.status];
        if (s !== 'SERVING') throw new Error(`status ${s}`);
        return s;
      });
    }
    await step('draft Generate', async () => {
      const { response } = await session.pool.forRole('draft').conn.skill.generate(
        {
          prompt: 'Say hi.',
          maxTokens: 8,
          stop: [],
          temperature: 0,
          grammar: '',
          adapter: '',
          logprobs: false,
        },
        { timeout: 30_000 },
      );
      return `${response.tokensGenerated} tokens at ${response.tokensPerSecond} tok/s, skill RSS ${response.ramMb.toFixed(0)} MiB`;
    });
    await step('image PreprocessImage', async () => {
      const { response } = await session.pool
        .forRole('image')
        .conn.skill.preprocessImage(
          { imageData: testPng(), format: 'webp', quality: 80, maxDimension: 0 },
          { timeout: 10_000 },
        );
      return `${response.webpPath} (pHash ${response.perceptualHash}, ${response.cache})`;
    });
    await step('signed loop (2 iterations)', async () => {
      const r = await session.loop.run('Smoke test: reply with OK.');
      if (r.fallbackUsed) throw new Error('answered by the local fallback, not the skill');
      const report = await verifyLoopAudit(session.paths.audit, {
        trusted: session.publicKey,
        interactionLogPath: session.paths.interactions,
      });
      if (!report.ok) throw new Error(`audit log: ${report.problems.map((p) => p.message).join('; ')}`);
      return `${r.iterations.length} iterations, audit log verifies (${report.records} record(s))`;
    });
  } finally {
    await session.close();
  }
  io.stdout(failed === 0 ? 'smoke test passed\n' : `smoke test failed (${failed} step(s))\n`);
  return failed === 0 ? 0 : 1;
}

async function cmdImage(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'cache-stats') throw usageError('usage: sarai image cache-stats [--addr HOST:PORT] [--json]');
  const { values } = parse(rest, { addr: { type: 'string' }, json: { type: 'boolean' } }, 0);
  const addr = values.addr ?? io.env['SARAI_SKILL_IMAGE_ADDR'] ?? 'skill-image:50051';
  const conn = connectSkill(String(addr));
  try {
    const s = await conn.skill.imageCacheStats({}, { timeout: 5_000 }).response.catch((e: RpcError) => {
      throw new CliError('CLI_FAILED', `cannot read cache stats from ${addr}: ${e.code ?? ''} ${e.message}`);
    });
    if (values.json) io.stdout(JSON.stringify(s, null, 2) + '\n');
    else {
      io.stdout(
        `skill-image cache at ${addr}\n` +
          `  hits      ${Number(s.exactHits) + Number(s.nearHits)} (exact ${s.exactHits}, near-duplicate ${s.nearHits})\n` +
          `  misses    ${s.misses}\n  hit rate  ${(s.hitRate * 100).toFixed(1)}%\n` +
          `  entries   ${s.entries} (${(Number(s.bytes) / 1048576).toFixed(1)} MiB)\n  evictions ${s.evictions}\n` +
          `  near-duplicate matches refused by the collision guard: ${s.rejectedNearHits}\n`,
      );
    }
    return 0;
  } finally {
    conn.close();
  }
}

async function cmdAudit(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify')
    throw usageError('usage: sarai audit verify LOG [--trusted FILE ...] [--interactions FILE]');
  const { values, positionals } = parse(
    rest,
    {
      trusted: { type: 'string', multiple: true },
      interactions: { type: 'string' },
      json: { type: 'boolean' },
    },
    1,
  );
  const log = positionals[0] ?? statePaths(io).audit;
  const trusted = await Promise.all(
    ((values.trusted as string[] | undefined) ?? []).map((f) =>
      readFile(String(f), 'utf8').catch((e: Error) => {
        throw new CliError('CLI_CONFIG', `cannot read trusted key ${String(f)}: ${e.message}`);
      }),
    ),
  );
  const report = await verifyLoopAudit(log, {
    ...(trusted.length ? { trusted } : {}),
    ...(values.interactions ? { interactionLogPath: String(values.interactions) } : {}),
  });
  if (values.json) io.stdout(JSON.stringify(report, null, 2) + '\n');
  else {
    io.stdout(
      `${log}: ${report.records} record(s), ${report.ok ? 'OK' : `${report.problems.length} problem(s)`}${trusted.length ? ', signatures checked' : ''}\n`,
    );
    for (const p of report.problems)
      io.stdout(
        `  line ${p.line}${p.seq !== undefined && p.seq !== null ? ` (seq ${p.seq})` : ''}: ${p.kind}: ${p.message}\n`,
      );
  }
  return report.ok ? 0 : 1;
}

async function cmdKeys(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'generate') throw usageError('usage: sarai keys generate [--out DIR]');
  const { values } = parse(rest, { out: { type: 'string' }, force: { type: 'boolean' } }, 0);
  const out = String(values.out ?? `${statePaths(io).state}/keys`);
  return runSignerCli(
    [
      'keygen',
      '--name',
      'SARAi',
      '--email',
      'sarai@localhost',
      '--out',
      out,
      ...(values.force ? ['--force'] : []),
    ],
    {
      stdout: io.stdout,
      stderr: io.stderr,
      readStdin: async () => '',
      env: io.env,
    },
  );
}

/** Runs the CLI; resolves with the exit status. User errors print one line (no stack trace). */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'loop':
        return await cmdLoop(rest, io);
      case 'serve':
        return await serveCommand(rest, io);
      case 'validate-autocorrection':
        return await validateAutocorrection(rest, io);
      case 'image':
        return await cmdImage(rest, io);
      case 'audit':
        return await cmdAudit(rest, io);
      case 'bench':
        if (rest[0] !== 'omni-loop')
          throw usageError('usage: sarai bench omni-loop [--iterations N] [--embedded]');
        return await benchOmniLoop(rest.slice(1), io);
      case 'keys':
        return await cmdKeys(rest, io);
      case 'lora':
        return await loraCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw usageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    const report = reportError(e);
    io.stderr(`${report.line}\n`);
    return report.exitCode;
  }
}
