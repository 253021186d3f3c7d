import type { LlamaModel } from 'node-llama-cpp';
import { DraftError } from '../errors.js';

/**
 * Bytes per token assumed when the model file carries no vocabulary (`tokenizer.ggml.tokens`): far above any real
 * BPE/SPM token, so the bound only ever refuses prompts that cannot fit.
 */
export const FALLBACK_MAX_TOKEN_BYTES = 256;

const cache = new WeakMap<LlamaModel, number>();

/**
 * The most prompt bytes one token can stand for: the longest entry of the GGUF vocabulary in UTF-8 bytes. Byte-level
 * BPE stores each byte as one code point below U+0200 (≤ 2 UTF-8 bytes) and SPM stores a space as `▁` (3 bytes) or a
 * byte as `<0xNN>` (6), so a vocabulary entry is never shorter in UTF-8 than the text it decodes to; special tokens
 * (`<|im_start|>`) are stored verbatim. Computed once per model (the vocabulary is already in memory).
 */
export function maxTokenBytes(model: LlamaModel): number {
  const known = cache.get(model);
  if (known !== undefined) return known;
  const vocab = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } } | undefined)
    ?.tokenizer?.ggml?.tokens;
  let max = 0;
  if (Array.isArray(vocab)) {
    for (const t of vocab) if (typeof t === 'string') max = Math.max(max, Buffer.byteLength(t, 'utf8'));
  }
  const bound = max > 0 ? max : FALLBACK_MAX_TOKEN_BYTES;
  cache.set(model, bound);
  return bound;
}

/**
 * Refuses, from its UTF-8 length alone and before any tokenization, a prompt that cannot fit in the context: every
 * token covers at most {@link maxTokenBytes} bytes, so a prompt of B bytes has at least B / maxTokenBytes tokens. A
 * prompt that passes tokenizes in bounded time (≤ contextSize × maxTokenBytes bytes), so one request cannot stall
 * the others for long; the exact token count is checked after tokenizing.
 */
export function checkPromptBytes(prompt: string, contextSize: number, model: LlamaModel): void {
  const perToken = maxTokenBytes(model);
  const limit = contextSize * perToken;
  // String length in UTF-16 units is ≤ its UTF-8 byte length, so a cheap pre-check avoids counting huge strings.
  if (prompt.length > limit) throw tooLong(`more than ${prompt.length} bytes`, limit, contextSize, perToken);
  const bytes = Buffer.byteLength(prompt, 'utf8');
  if (bytes > limit) throw tooLong(`${bytes} bytes`, limit, contextSize, perToken);
}

function tooLong(size: string, limit: number, contextSize: number, perToken: number): DraftError {
  return new DraftError(
    'DRAFT_PROMPT_TOO_LONG',
    `prompt is ${size}; the context of ${contextSize} tokens (CONTEXT_SIZE) holds at most ${limit} bytes with this model's vocabulary (≤ ${perToken} bytes per token): shorten the prompt`,
  );
}
