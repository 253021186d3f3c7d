import { PromptSigner, generateSigningKeyPair, type GeneratedKeyPair } from '@sarai/signer';

let keyPair: Promise<GeneratedKeyPair> | undefined;

/** One Ed25519 signing key per test process. */
export function testKeyPair(): Promise<GeneratedKeyPair> {
  keyPair ??= generateSigningKeyPair({ name: 'SARAi LoRA test', email: 'sarai@localhost' });
  return keyPair;
}

export async function testSigner(): Promise<PromptSigner> {
  return PromptSigner.fromKey((await testKeyPair()).privateKeyArmored);
}

/** A record exactly as @sarai/loop-core writes it (schema v1, with its extra fields). */
export function loopRecord(
  prompt: string,
  final: string,
  o: { passed?: boolean; corrected?: boolean; ts?: string } = {},
): Record<string, unknown> {
  const passed = o.passed ?? true;
  const corrected = o.corrected ?? false;
  return {
    v: 1,
    ts: o.ts ?? '2026-11-24T10:00:00.000Z',
    prompt,
    iterations: [
      {
        iteration: 0,
        sentPrompt: prompt,
        response: 'draft',
        confidence: 0.4,
        corrected: false,
        source: 'skill',
        checks: [{ checker: 'json', pass: false, feedback: 'not JSON' }],
      },
      {
        iteration: 1,
        sentPrompt: `reflect: ${prompt}`,
        signedPrompt: `reflect: ${prompt}\n\n---SIGNATURE---\n-----BEGIN PGP SIGNATURE-----\n...`,
        response: final,
        confidence: 0.9,
        corrected,
        source: 'skill',
        checks: [{ checker: 'json', pass: passed, feedback: passed ? '' : 'still not JSON' }],
      },
    ],
    final,
    autoCorrected: corrected,
    checkersPassed: passed,
    hadCheckers: true,
  };
}

const COLORS = ['red', 'green', 'blue', 'amber'] as const;

/**
 * A learnable toy log: `n` eligible runs whose answers follow one pattern ("Item N is COLOR."), plus runs that
 * must be skipped (not improved, malformed lines, a duplicate prompt).
 */
export function toyInteractionLog(n = 48, seedOffset = 0): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = i + seedOffset;
    lines.push(
      JSON.stringify(
        loopRecord(`What color is item ${k}?`, `Item ${k} is ${COLORS[k % 4]}.`, {
          passed: i % 3 !== 0,
          corrected: i % 3 === 0,
        }),
      ),
    );
  }
  lines.push(
    JSON.stringify(
      loopRecord('What color is the sky?', 'Maybe purple.', { passed: false, corrected: false }),
    ),
  );
  lines.push('{"ts": "2026-11-24T10:00:00Z", "prompt": truncated');
  lines.push(
    JSON.stringify({
      ts: 'yesterday',
      prompt: 'x',
      iterations: [],
      final: 'y',
      autoCorrected: true,
      checkersPassed: true,
    }),
  );
  return lines.join('\n') + '\n';
}
