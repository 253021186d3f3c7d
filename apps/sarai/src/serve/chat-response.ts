import type { LoopIteration, LoopResult } from '@sarai/loop-core';
import { createHash } from 'node:crypto';

/**
 * The loop's record in responses (the `sarai` extension field). Reflection prompts are signed: each iteration after
 * the first names the signing key's fingerprint and the SHA-256 of its detached signature (the audit log's entry).
 */
export interface LoopRecord {
  iterations: IterationRecord[];
  stop_reason: LoopResult['stopReason'];
  fallback_used: boolean;
  auto_corrected: boolean;
  total_latency_ms: number;
  image?: LoopResult['image'];
}

export interface IterationRecord {
  iteration: number;
  confidence: number;
  latency_ms: number;
  generation_ms: number;
  source: LoopIteration['source'];
  corrected: boolean;
  checks: LoopIteration['checks'];
  signature: { fingerprint: string; sha256: string } | null;
}

const ms = (x: number) => Math.round(x * 10) / 10;

export function iterationRecord(it: LoopIteration, fingerprint: string): IterationRecord {
  return {
    iteration: it.iteration,
    confidence: it.confidence,
    latency_ms: ms(it.latencyMs),
    generation_ms: ms(it.generationMs),
    source: it.source,
    corrected: it.corrected,
    checks: it.checks,
    signature: it.promptSignature
      ? { fingerprint, sha256: createHash('sha256').update(it.promptSignature).digest('hex') }
      : null,
  };
}

export function loopRecord(r: LoopResult, fingerprint: string): LoopRecord {
  return {
    iterations: r.iterations.map((it) => iterationRecord(it, fingerprint)),
    stop_reason: r.stopReason,
    fallback_used: r.fallbackUsed,
    auto_corrected: r.autoCorrected,
    total_latency_ms: ms(r.totalLatencyMs),
    ...(r.image ? { image: r.image } : {}),
  };
}

/** A non-streamed `chat.completion`. */
export function completion(id: string, model: string, created: number, r: LoopResult, fingerprint: string) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: r.text, refusal: null },
        logprobs: null,
        finish_reason: 'stop' as const,
      },
    ],
    sarai: loopRecord(r, fingerprint),
  };
}

/** One `chat.completion.chunk` of a stream. */
export function chunk(
  id: string,
  model: string,
  created: number,
  delta: Record<string, unknown>,
  finishReason: 'stop' | null = null,
  sarai?: unknown,
) {
  return {
    id,
    object: 'chat.completion.chunk' as const,
    created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(sarai !== undefined ? { sarai } : {}),
  };
}

/** Splits the answer into stream pieces of about `size` characters at whitespace; they concatenate to `text`. */
export function pieces(text: string, size = 32): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of text.split(/(?<=\s)/)) {
    if (cur && cur.length + word.length > size) {
      out.push(cur);
      cur = '';
    }
    cur += word;
  }
  if (cur) out.push(cur);
  return out;
}
