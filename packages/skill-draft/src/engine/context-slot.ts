import type { LlamaContext, LlamaContextSequence, Token } from 'node-llama-cpp';
import type { AdapterSpec } from '../config.js';
import { DraftError } from '../errors.js';
import { commonPrefixLength } from '../text.js';
import type { TextHistory } from './text-history.js';

/** Longest a batch waits for the other running generations to queue their next token. */
const MAX_BATCH_WAIT_MS = 10;

/** One context (base model + one adapter set) and its sequences; replaced blue/green on adapter swaps. */
export class ContextSlot {
  private readonly lastUsed = new Map<LlamaContextSequence, number>();
  private busy = 0;
  /** Generations of this slot currently waiting for a decode (queued in node-llama-cpp's batch). */
  awaiting = 0;
  /** Generations in their token loop, and those of them waiting at the step barrier. */
  private inLoop = 0;
  private arrived: Array<() => void> = [];
  private barrierTimer: NodeJS.Timeout | undefined;
  private readonly history = new Map<LlamaContextSequence, TextHistory>();
  private idleWaiters: Array<() => void> = [];
  private clock = 0;

  private readonly idle: LlamaContextSequence[] = [];
  private readonly all: LlamaContextSequence[] = [];
  context!: LlamaContext;

  constructor(
    readonly name: string,
    /** The adapter files this context applies (empty = the base model). */
    readonly files: AdapterSpec['files'],
  ) {}

  /** Generations holding one of this context's sequences. */
  get inFlight(): number {
    return this.busy;
  }

  attach(context: LlamaContext, sequences: LlamaContextSequence[]): void {
    this.context = context;
    this.all.push(...sequences);
    this.idle.push(...sequences);
  }

  enterLoop(): void {
    this.inLoop += 1;
  }

  leaveLoop(): void {
    this.inLoop -= 1;
    this.releaseIfAllArrived();
  }

  /**
   * Step barrier: a generation that has processed its token waits here until every generation in its token loop
   * has, then they all ask for their next token in the same turn and share one llama_decode. Without it, the last
   * one sampled from a batch always misses the next (node-llama-cpp re-dispatches whatever is queued at once):
   * 2 streams would never batch and 4 would decode in threes. Waits at most {@link MAX_BATCH_WAIT_MS}.
   */
  step(): Promise<void> {
    if (this.inLoop <= 1) return Promise.resolve();
    return new Promise((resolve) => {
      this.arrived.push(resolve);
      if (!this.releaseIfAllArrived()) {
        this.barrierTimer ??= setTimeout(() => this.release(), MAX_BATCH_WAIT_MS);
      }
    });
  }

  private releaseIfAllArrived(): boolean {
    if (this.arrived.length > 0 && this.arrived.length >= this.inLoop) {
      this.release();
      return true;
    }
    return false;
  }

  private release(): void {
    if (this.barrierTimer) clearTimeout(this.barrierTimer);
    this.barrierTimer = undefined;
    for (const r of this.arrived.splice(0)) r();
  }

  /**
   * node-llama-cpp batching schedule: dispatch once every generation holding a sequence has queued its next token,
   * so they share one llama_decode (one pass over the weights), instead of whoever was sampled first going alone.
   * Never waits more than {@link MAX_BATCH_WAIT_MS} for a straggler.
   */
  scheduleDispatch(dispatch: () => void): void {
    const started = performance.now();
    const check = () => {
      if (this.awaiting >= this.busy || performance.now() - started > MAX_BATCH_WAIT_MS) {
        this.orderBySequence();
        dispatch();
      } else setImmediate(check);
    };
    setImmediate(check);
  }

  /**
   * Puts the queued decodes in sequence-id order. With one KV stream per sequence (node-llama-cpp creates the context
   * with kv_unified = false) llama.cpp splits a batch into ubatches of *consecutive increasing* sequence ids
   * (`split_equal(…, sequential = true)`): sequences queued as 0, 2, 3, 1 decode as two ubatches {0, 1} and {2, 3},
   * i.e. two passes over the weights, and a 4-stream step costs 2× what it should. Arrival order depends on earlier
   * traffic, so without this the batching gain fell from 2.3× to 1.3× after a few requests. node-llama-cpp builds
   * the batch from its queue in order; the queue is internal, so a version without it is left as it is.
   */
  private orderBySequence(): void {
    const queue = (this.context as unknown as { _queuedDecodes?: Array<{ sequenceId?: unknown }> })
      ._queuedDecodes;
    if (!Array.isArray(queue) || queue.length < 2) return;
    if (!queue.every((q) => typeof q.sequenceId === 'number')) return;
    queue.sort((a, b) => (a.sequenceId as number) - (b.sequenceId as number));
  }

  /**
   * The idle sequence that can reuse the most of this prompt, and the prompt's tokens for it. A sequence remembers
   * the text its tokens spell (prompt + generated output): when the new prompt starts with that text, the cached
   * tokens are kept as they are and only the rest of the prompt is tokenized, so a follow-up that embeds an earlier
   * prompt and output reuses all of it even where a fresh tokenization would split the seam differently.
   * Among sequences that reuse equally much, the one next to the busy ones wins (llama.cpp decodes only consecutive
   * sequence ids in one ubatch, see {@link orderBySequence}: busy 1 and 3 take two passes over the weights, 1 and 2
   * one), then the least recently used (keeps recent prefixes for follow-ups).
   */
  take(
    canonical: Token[],
    prompt: string,
    tokenizeRest: (text: string) => Token[],
  ): { seq: LlamaContextSequence; tokens: Token[]; common: number } {
    let best = -1;
    let bestCommon = -1;
    let bestRuns = Infinity;
    let bestTokens = canonical;
    const busyIds = this.all.filter((s) => !this.idle.includes(s)).map((s) => this.idOf(s));
    for (let i = 0; i < this.idle.length; i++) {
      const seq = this.idle[i] as LlamaContextSequence;
      let tokens = canonical;
      const h = this.history.get(seq);
      if (h) {
        const b = h.longestTextPrefix(prompt);
        if (b && b.tokens > 0)
          tokens = [...h.tokens.slice(0, b.tokens), ...tokenizeRest(prompt.slice(b.chars))];
      }
      const common = commonPrefixLength(seq.contextTokens, tokens);
      const runs = consecutiveRuns([...busyIds, this.idOf(seq)]);
      const better =
        common > bestCommon ||
        (common === bestCommon &&
          (runs < bestRuns ||
            (runs === bestRuns &&
              (this.lastUsed.get(seq) ?? 0) <
                (this.lastUsed.get(this.idle[best] as LlamaContextSequence) ?? 0))));
      if (better) {
        best = i;
        bestCommon = common;
        bestRuns = runs;
        bestTokens = tokens;
      }
    }
    if (best < 0) throw new DraftError('DRAFT_NOT_READY', 'no free sequence (admission control out of sync)');
    const [seq] = this.idle.splice(best, 1) as [LlamaContextSequence];
    this.busy += 1;
    return { seq, tokens: bestTokens, common: bestCommon };
  }

  /**
   * llama.cpp's sequence id (node-llama-cpp keeps it internal; its decode queue sorts by it, see orderBySequence),
   * else the position among this context's sequences (a fresh context hands out ids 0, 1, 2, … in that order).
   */
  private idOf(seq: LlamaContextSequence): number {
    const id = (seq as unknown as { _sequenceId?: unknown })._sequenceId;
    return typeof id === 'number' ? id : this.all.indexOf(seq);
  }

  /** Records what a sequence's tokens spell, for text-level prefix reuse (undefined = unknown). */
  remember(seq: LlamaContextSequence, history: TextHistory | undefined): void {
    if (history) this.history.set(seq, history);
    else this.history.delete(seq);
  }

  put(seq: LlamaContextSequence): void {
    this.lastUsed.set(seq, ++this.clock);
    this.idle.push(seq);
    this.busy -= 1;
    if (this.busy === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  drained(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** How many runs of consecutive ids a set of sequence ids forms ({0, 1, 3} → 2): the ubatches one step needs. */
export function consecutiveRuns(ids: readonly number[]): number {
  const sorted = [...ids].sort((a, b) => a - b);
  let runs = 0;
  for (let i = 0; i < sorted.length; i++)
    if (i === 0 || (sorted[i] as number) !== (sorted[i - 1] as number) + 1) runs += 1;
  return runs;
}
