import type { CheckResult } from './checkers.js';

/** What the skill with the `image` role (or the local fallback) said about an attached image. */
export interface ImageInfo {
  path: string;
  perceptualHash: string;
  width: number;
  height: number;
  format: string;
  cache: string;
  source: 'skill' | 'fallback';
}

/**
 * The draft model is text-only. With an image, it receives exactly one extra first line describing the preprocessed
 * image (never the pixels):
 * `[Image attached: <w>x<h> <format>, perceptual hash <hash>, cached at <path relative to the image cache>]`
 */
export function draftPrompt(prompt: string, image?: ImageInfo): string {
  if (!image) return prompt;
  return `[Image attached: ${image.width}x${image.height} ${image.format}, perceptual hash ${image.perceptualHash}, cached at ${image.path}]\n${prompt}`;
}

/** The seed's self-reflection template (Patch #4), plus the external checkers' feedback when there is any. */
export function reflectionPrompt(opts: {
  iteration: number;
  maxIterations: number;
  originalPrompt: string;
  draftResponse: string;
  checks: readonly CheckResult[];
}): string {
  const failed = opts.checks.filter((c) => !c.pass && !c.unavailable);
  const verdict = (c: CheckResult) =>
    c.pass ? 'PASS' : c.unavailable ? `UNAVAILABLE (not run) — ${c.feedback}` : `FAIL — ${c.feedback}`;
  const checks =
    opts.checks.length === 0
      ? ''
      : `External Checks:\n${opts.checks.map((c) => `- ${c.checker}: ${verdict(c)}`).join('\n')}\n\n`;
  const fix = failed.length > 0 ? '5. Fix every failed external check above\n' : '';
  return `
[SYSTEM: Self-Reflection Mode - Iteration ${opts.iteration}/${opts.maxIterations}]

Original User Request:
${opts.originalPrompt}

Your Previous Response (Draft):
${opts.draftResponse}

${checks}INSTRUCTIONS:
1. Analyze your previous response critically
2. Identify factual errors, inconsistencies, or unclear statements
3. Provide an improved version that addresses these issues
4. If your previous response was already optimal, confirm it
${fix}
Improved Response:
`;
}
