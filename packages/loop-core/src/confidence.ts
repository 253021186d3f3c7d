import type { CheckResult } from './checkers.js';

/** Model confidence used when the answering model gave no log-probabilities. */
export const UNKNOWN_MODEL_CONFIDENCE = 0.5;

/**
 * Confidence of one answer, in [0, 1]:
 * - model part `m` = exp(mean log-probability of the generated tokens) — the geometric mean of the probabilities the
 *   draft model gave its own tokens (GenReply.mean_logprob, requested with GenReq.logprobs); 0.5 when unknown.
 * - without checkers: `m`.
 * - with checkers: `0.7 × (passed / total) + 0.3 × m`, capped at 0.5 when any checker fails — an external signal
 *   that says "wrong" always outweighs the model's own certainty, so a failing answer never stops the loop early.
 */
export function scoreConfidence(meanLogprob: number | undefined, checks: readonly CheckResult[]): number {
  const m =
    meanLogprob === undefined || !Number.isFinite(meanLogprob)
      ? UNKNOWN_MODEL_CONFIDENCE
      : Math.min(1, Math.exp(meanLogprob));
  if (checks.length === 0) return round(m);
  const passed = checks.filter((c) => c.pass).length;
  const c = 0.7 * (passed / checks.length) + 0.3 * m;
  return round(passed === checks.length ? c : Math.min(c, 0.5));
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
