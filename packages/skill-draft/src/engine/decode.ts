import { randomInt } from 'node:crypto';
import type { LlamaContextSequence, LlamaGrammar, Token } from 'node-llama-cpp';
import { DraftError } from '../errors.js';
import { StopMatcher, TokenTextDecoder } from '../text.js';
import type { NodeLlamaCpp } from './bindings.js';
import type { ContextSlot } from './context-slot.js';
import type { FinishReason, GenerateHooks, GenerateParams, GenerateResult } from './options.js';
import { TextHistory } from './text-history.js';

/** What a generation needs from its engine. */
export interface DecodeEnv {
  nlc: NodeLlamaCpp;
  modelName: string;
  /** Prompt tokens evaluated per step (cancellation point). */
  promptChunk: number;
  ignoreEos: boolean;
  /** Recent llama.cpp error lines, appended to an error message. */
  takeErrors: () => string;
}

/** One admitted generation: the sequence it holds, the tokens to evaluate and how much of them is cached. */
export interface DecodeJob {
  seq: LlamaContextSequence;
  slot: ContextSlot;
  tokens: Token[];
  /** Tokens shared with what the sequence holds (prefix reuse). */
  commonIn: number;
  params: GenerateParams;
  grammar: LlamaGrammar | undefined;
  hooks: GenerateHooks;
  queueMs: number;
}

/**
 * Runs one generation on a held sequence: prefix reuse, chunked prompt evaluation (cancellable between chunks), the
 * batched token loop (step barrier), stop strings, grammar, log-probabilities; returns the result (never throws for
 * a cancellation: finishReason 'cancelled').
 */
export async function decode(env: DecodeEnv, job: DecodeJob): Promise<GenerateResult> {
  const { seq, slot, tokens, commonIn, params, grammar, hooks, queueMs } = job;
  const { signal, onText } = hooks;
  const model = slot.context.model;
  // Prefix reuse: keep the cached tokens shared with this prompt, evaluate only the rest (at least one token,
  // whose logits give the first output token).
  slot.remember(seq, undefined);
  const reused = Math.min(commonIn, tokens.length - 1);
  if (seq.nextTokenIndex > reused)
    await seq.eraseContextTokenRanges([{ start: reused, end: seq.nextTokenIndex }]);
  const rest = tokens.slice(reused);
  const started = performance.now();
  const chunk = env.promptChunk;
  let offset = 0;
  const result = (partial: Partial<GenerateResult>): GenerateResult => ({
    text: '',
    tokensGenerated: 0,
    finishReason: 'cancelled',
    decodeTokensPerSecond: 0,
    promptTokens: tokens.length,
    promptTokensEvaluated: rest.length,
    promptTokensReused: reused,
    promptEvalMs: performance.now() - started,
    queueMs,
    adapter: slot.name,
    model: env.modelName,
    ...partial,
  });
  while (rest.length - offset > chunk) {
    if (signal?.aborted) return result({});
    slot.awaiting += 1;
    try {
      await seq.evaluateWithoutGeneratingNewTokens(rest.slice(offset, offset + chunk));
    } finally {
      slot.awaiting -= 1;
    }
    offset += chunk;
  }
  if (signal?.aborted) return result({});
  const history = new TextHistory(tokens, params.prompt);
  slot.remember(seq, history);

  const temperature = params.temperature ?? 0;
  const grammarState = grammar ? new env.nlc.LlamaGrammarEvaluationState({ model, grammar }) : undefined;
  const logprobs = params.logprobs === true;
  const ignoreEos = env.ignoreEos && !grammarState;
  const decoder = new TokenTextDecoder((t, last) => model.detokenize(t as Token[], false, last as Token[]));
  const stops = new StopMatcher(params.stop ?? []);
  let text = '';
  const emit = (piece: string) => {
    if (!piece) return;
    text += piece;
    onText?.(piece);
  };
  let n = 0;
  let tFirst = 0;
  let tLast = 0;
  let sumLp = 0;
  let minLp = 0;
  let finish: FinishReason | undefined;
  const iterator = seq.evaluateWithMetadata(
    rest.slice(offset),
    { confidence: logprobs },
    {
      temperature,
      seed: params.seed ?? randomInt(0, 2 ** 31),
      ...(grammarState ? { grammarEvaluationState: grammarState } : {}),
      yieldEogToken: true,
    },
  );
  slot.enterLoop();
  try {
    for (let first = true; ; first = false) {
      if (!first) await slot.step();
      slot.awaiting += 1;
      let step: IteratorResult<{ token: Token; confidence?: number }>;
      try {
        step = await iterator.next();
      } finally {
        slot.awaiting -= 1;
      }
      if (step.done) break;
      const out = step.value;
      const now = performance.now();
      if (n === 0) tFirst = now;
      tLast = now;
      if (signal?.aborted) {
        finish = 'cancelled';
        break;
      }
      const token = out.token;
      if (model.isEogToken(token) && !ignoreEos) {
        finish = grammarState ? 'grammar' : 'eos';
        break;
      }
      n += 1;
      if (logprobs) {
        const lp = Math.log(Math.max((out as { confidence?: number }).confidence ?? 0, Number.MIN_VALUE));
        sumLp += lp;
        minLp = n === 1 ? lp : Math.min(minLp, lp);
      }
      const piece = decoder.push(token);
      history.add(token, piece);
      if (piece) {
        const r = stops.push(piece);
        emit(r.emit);
        if (r.stopped) {
          finish = 'stop';
          break;
        }
      }
      if (n >= params.maxTokens) {
        finish = 'length';
        break;
      }
    }
  } catch (e) {
    throw new DraftError('DRAFT_NOT_READY', `generation failed: ${(e as Error).message}${env.takeErrors()}`, {
      cause: e,
    });
  } finally {
    slot.leaveLoop();
    // Ends node-llama-cpp's generator (its sampler is freed); the last sampled token is not evaluated.
    await iterator.return(undefined);
  }
  finish ??= grammarState ? 'grammar' : 'eos';
  if (finish !== 'stop' && finish !== 'cancelled') {
    const flushed = decoder.flush();
    history.commit(flushed);
    const r = stops.push(flushed);
    emit(r.emit);
    if (r.stopped) finish = 'stop';
    else emit(stops.flush());
  }
  const decodeSeconds = (tLast - tFirst) / 1000;
  return result({
    text,
    tokensGenerated: n,
    finishReason: finish,
    decodeTokensPerSecond: n > 1 && decodeSeconds > 0 ? (n - 1) / decodeSeconds : 0,
    promptEvalMs: (n > 0 ? tFirst : performance.now()) - started,
    ...(logprobs && n > 0 ? { meanLogprob: sumLp / n, minLogprob: minLp } : {}),
  });
}
