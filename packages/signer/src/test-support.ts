// Test helpers (excluded from the build by tsconfig.lib.json).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { splitSignedPrompt, type SignedPromptParts } from './envelope.js';
import { generateSigningKeyPair, type GeneratedKeyPair } from './keys.js';

export const DAY_MS = 86_400_000;

/** ~2 KB reflection prompt in the seed's template (Patch #4), with the separator inside the user text. */
export function reflectionPrompt(iteration = 1): string {
  const original =
    'Explain how the Omni-Loop signs reflection prompts. Mention ---SIGNATURE--- handling. '.repeat(8);
  const draft =
    'The loop builds a reflection prompt, signs it and sends it to the draft skill. ñ ✓ 🔐 '.repeat(10);
  return `
[SYSTEM: Self-Reflection Mode - Iteration ${iteration}/3]

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

export async function newKey(
  email = 'sarai@localhost',
  options: { name?: string; passphrase?: string; date?: Date; expiresInSeconds?: number } = {},
): Promise<GeneratedKeyPair> {
  return generateSigningKeyPair({ name: options.name ?? 'SARAi Test', email, ...options });
}

/** A key created two days ago that expired one day ago, and a date at which it was valid. */
export async function expiredKey(
  email = 'expired@example.com',
): Promise<{ pair: GeneratedKeyPair; validAt: Date }> {
  const created = new Date(Date.now() - 2 * DAY_MS);
  const pair = await newKey(email, { date: created, expiresInSeconds: DAY_MS / 1000 });
  return { pair, validAt: new Date(created.getTime() + 60_000) };
}

/** The armored revoked versions of a key pair. */
export async function revoke(
  pair: GeneratedKeyPair,
): Promise<{ privateKeyArmored: string; publicKeyArmored: string }> {
  const { privateKey, publicKey } = await openpgp.revokeKey({ key: pair.privateKey, format: 'armored' });
  return { privateKeyArmored: privateKey, publicKeyArmored: publicKey };
}

export async function tempDir(
  prefix = 'sarai-signer-',
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** splitSignedPrompt that throws instead of returning null. */
export function split(signed: string): SignedPromptParts {
  const parts = splitSignedPrompt(signed);
  if (parts === null) throw new Error('no signature block');
  return parts;
}

/** The value, or a thrown error when it is null/undefined. */
export function must<T>(value: T | null | undefined, what = 'value'): T {
  if (value === null || value === undefined) throw new Error(`missing ${what}`);
  return value;
}
