// Benchmark (not a test): OpenPGP Ed25519 detached sign/verify of a ~2 KB reflection prompt with @sarai/signer,
// against a baseline measured in the same run: raw Ed25519 with node:crypto over the same bytes.
// Run: nx run @sarai/signer:bench   (BENCH_SECONDS per measurement, default 1; 3 interleaved rounds, median)
import { generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { runBench, type BenchContext } from '@sarai/formats';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { PromptSigner, generateSigningKeyPair, splitSignedPrompt, verifyPrompt } from '../src/index.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? '1');
const ROUNDS = 3;

function reflectionPrompt(): string {
  const original =
    'Explain how the Omni-Loop signs its reflection prompts and what the audit log records. '.repeat(8);
  const draft =
    'The loop builds a reflection prompt, signs it with the local key and sends it to the draft skill. '.repeat(
      10,
    );
  return `
[SYSTEM: Self-Reflection Mode - Iteration 1/3]

Original User Request:
${original}

Your Previous Response (Draft):
${draft}

INSTRUCTIONS:
1. Analyze your previous response critically
2. Identify factual errors, inconsistencies, or unclear statements
3. Provide an improved version that addresses these issues
4. If your previous response was already optimal, confirm it

Improved Response:
`;
}

/** One timed run of `op` for SECONDS; returns ops/s. */
async function timedRun(op: () => unknown): Promise<number> {
  let n = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    await op();
    n++;
    elapsed = process.hrtime.bigint() - start;
  }
  return n / (Number(elapsed) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(ctx: BenchContext): Promise<{ text: string }> {
  const out: string[] = [];
  const text = reflectionPrompt();
  const bytes = Buffer.from(text, 'utf8');

  // Baseline: raw Ed25519 (node:crypto / OpenSSL).
  const raw = generateKeyPairSync('ed25519');
  const rawSig = cryptoSign(null, bytes, raw.privateKey);
  if (!cryptoVerify(null, bytes, raw.publicKey, rawSig))
    throw new Error('baseline signature does not verify');

  // OpenPGP Ed25519 (openpgp.js) through @sarai/signer.
  const pair = await generateSigningKeyPair({ name: 'Bench', email: 'bench@example.com' });
  const signer = await PromptSigner.fromKey(pair.privateKey);
  const trusted = [pair.publicKey];
  const signed = await signer.signPrompt(text);
  const check = await verifyPrompt(signed, { trusted });
  if (!check.valid) throw new Error(`signed prompt does not verify: ${check.reason}`);
  const parts = splitSignedPrompt(signed);
  if (parts === null) throw new Error('no signature block');
  const detached = await openpgp.readSignature({ armoredSignature: parts.signature });

  const ops: Array<{ name: string; kind: 'sign' | 'verify'; op: () => unknown }> = [
    {
      name: 'node:crypto Ed25519 sign (baseline)',
      kind: 'sign',
      op: () => cryptoSign(null, bytes, raw.privateKey),
    },
    {
      name: 'node:crypto Ed25519 verify (baseline)',
      kind: 'verify',
      op: () => cryptoVerify(null, bytes, raw.publicKey, rawSig),
    },
    {
      name: 'openpgp.sign detached (raw)',
      kind: 'sign',
      op: async () =>
        openpgp.sign({
          message: await openpgp.createMessage({ binary: bytes }),
          signingKeys: pair.privateKey,
          detached: true,
        }),
    },
    { name: 'PromptSigner.signPrompt', kind: 'sign', op: () => signer.signPrompt(text) },
    {
      name: 'openpgp.verify detached (raw)',
      kind: 'verify',
      op: async () => {
        const res = await openpgp.verify({
          message: await openpgp.createMessage({ binary: bytes }),
          signature: detached,
          verificationKeys: pair.publicKey,
        });
        await res.signatures[0]?.verified;
      },
    },
    { name: 'verifyPrompt (1 trusted key)', kind: 'verify', op: () => verifyPrompt(signed, { trusted }) },
  ];
  for (const { op } of ops) for (let i = 0; i < 50; i++) await op(); // warm-up
  // Rounds interleave the operations so that load from other processes hits baseline and subject alike.
  const samples = ops.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, { op }] of ops.entries()) samples[i]?.push(await timedRun(op));
  }
  const rows = ops.map((o, i) => ({ name: o.name, kind: o.kind, ops: median(samples[i] ?? []) }));

  const baseline = { sign: rows[0]?.ops ?? NaN, verify: rows[1]?.ops ?? NaN }; // the first two rows
  const nameWidth = Math.max(...rows.map((r) => r.name.length));
  out.push(
    `prompt: ${bytes.length} bytes; signed envelope: ${Buffer.byteLength(signed)} bytes; node ${process.version}; ` +
      `openpgp ${openpgp.config.versionString}; ${SECONDS}s x ${ROUNDS} interleaved rounds, median`,
  );
  out.push(`${'operation'.padEnd(nameWidth)} | ${'ops/s'.padStart(9)} | vs baseline`);
  out.push(`${'-'.repeat(nameWidth)}-|-${'-'.repeat(9)}-|------------`);
  for (const row of rows) {
    const ratio = row.ops / baseline[row.kind];
    out.push(
      `${row.name.padEnd(nameWidth)} | ${row.ops.toFixed(0).padStart(9)} | ${ratio.toFixed(3)}x ${row.kind}`,
    );
    ctx.results[row.name] = { opsPerSecond: row.ops, ratio, baseline: row.kind };
  }
  out.push(`load average: ${ctx.loadavg()}`);
  return { text: out.join('\n') };
}

void runBench({ packageDir: join(import.meta.dirname, '..', '..', '..') }, main);
