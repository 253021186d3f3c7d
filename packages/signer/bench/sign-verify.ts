// Benchmark (not a test): OpenPGP Ed25519 detached sign/verify of a ~2 KB reflection prompt with @sarai/signer,
// against a baseline measured in the same run: raw Ed25519 with node:crypto over the same bytes.
// Run: nx run @sarai/signer:bench   (BENCH_SECONDS per measurement, default 1; 3 rounds, median reported)
import { generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import * as openpgp from 'openpgp';
import { PromptSigner, generateSigningKeyPair, splitSignedPrompt, verifyPrompt } from '../src/index.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? '1');
const ROUNDS = 3;

function reflectionPrompt(): string {
  const original = 'Explain how the Omni-Loop signs its reflection prompts and what the audit log records. '.repeat(8);
  const draft = 'The loop builds a reflection prompt, signs it with the local key and sends it to the draft skill. '.repeat(10);
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

async function opsPerSecond(op: () => unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await op(); // warm-up
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const budget = BigInt(Math.round(SECONDS * 1e9));
    let elapsed = 0n;
    while (elapsed < budget) {
      await op();
      n++;
      elapsed = process.hrtime.bigint() - start;
    }
    samples.push(n / (Number(elapsed) / 1e9));
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

async function main(): Promise<void> {
  const text = reflectionPrompt();
  const bytes = Buffer.from(text, 'utf8');

  // Baseline: raw Ed25519 (node:crypto / OpenSSL).
  const raw = generateKeyPairSync('ed25519');
  const rawSig = cryptoSign(null, bytes, raw.privateKey);
  if (!cryptoVerify(null, bytes, raw.publicKey, rawSig)) throw new Error('baseline signature does not verify');

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

  const rows: Array<{ name: string; kind: 'sign' | 'verify'; ops: number }> = [];
  const measure = async (name: string, kind: 'sign' | 'verify', op: () => unknown): Promise<void> => {
    rows.push({ name, kind, ops: await opsPerSecond(op) });
  };
  await measure('node:crypto Ed25519 sign (baseline)', 'sign', () => cryptoSign(null, bytes, raw.privateKey));
  await measure('node:crypto Ed25519 verify (baseline)', 'verify', () => cryptoVerify(null, bytes, raw.publicKey, rawSig));
  await measure('openpgp.sign detached (raw)', 'sign', async () =>
    openpgp.sign({ message: await openpgp.createMessage({ binary: bytes }), signingKeys: pair.privateKey, detached: true }),
  );
  await measure('PromptSigner.signPrompt', 'sign', () => signer.signPrompt(text));
  await measure('openpgp.verify detached (raw)', 'verify', async () => {
    const res = await openpgp.verify({ message: await openpgp.createMessage({ binary: bytes }), signature: detached, verificationKeys: pair.publicKey });
    await res.signatures[0]?.verified;
  });
  await measure('verifyPrompt (1 trusted key)', 'verify', () => verifyPrompt(signed, { trusted }));

  const baseline = { sign: rows[0]?.ops ?? NaN, verify: rows[1]?.ops ?? NaN }; // the first two rows
  const nameWidth = Math.max(...rows.map((r) => r.name.length));
  console.log(
    `prompt: ${bytes.length} bytes; signed envelope: ${Buffer.byteLength(signed)} bytes; node ${process.version}; ` +
      `openpgp ${openpgp.config.versionString}; ${SECONDS}s x ${ROUNDS} rounds, median`,
  );
  console.log(`${'operation'.padEnd(nameWidth)} | ${'ops/s'.padStart(9)} | vs baseline`);
  console.log(`${'-'.repeat(nameWidth)}-|-${'-'.repeat(9)}-|------------`);
  for (const row of rows) {
    const ratio = row.ops / baseline[row.kind];
    console.log(`${row.name.padEnd(nameWidth)} | ${row.ops.toFixed(0).padStart(9)} | ${ratio.toFixed(3)}x ${row.kind}`);
  }
}

await main();
