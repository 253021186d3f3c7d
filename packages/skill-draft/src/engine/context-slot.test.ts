// Which sequence a generation gets: the one that reuses the most of its prompt, then one next to the busy sequences
// (llama.cpp batches only consecutive sequence ids in one ubatch), then the least recently used.
import type { LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL } from '../test-support/models.js';
import { ContextSlot, consecutiveRuns } from './context-slot.js';
import { loadLlamaModel, type LoadedModel } from './model-preload.js';

describe('consecutiveRuns', () => {
  it('counts runs of consecutive ids in any order', () => {
    expect(consecutiveRuns([])).toBe(0);
    expect(consecutiveRuns([2])).toBe(1);
    expect(consecutiveRuns([3, 0, 1, 2])).toBe(1);
    expect(consecutiveRuns([0, 3])).toBe(2);
    expect(consecutiveRuns([3, 1, 0])).toBe(2);
    expect(consecutiveRuns([0, 2, 4])).toBe(3);
  });
});

describe('ContextSlot.take', () => {
  let loaded: LoadedModel;
  let model: LlamaModel;
  let context: LlamaContext;
  let sequences: LlamaContextSequence[] = [];

  beforeAll(async () => {
    loaded = await loadLlamaModel({
      binaries: 'prebuilt',
      threads: 1,
      modelPath: TINY_MODEL,
      useMmap: true,
      flashAttention: true,
    });
    model = loaded.model;
    context = await model.createContext({ contextSize: 256, sequences: 4, threads: 1 });
  });
  afterEach(() => {
    for (const s of sequences.splice(0)) s.dispose();
  });
  afterAll(async () => {
    await context.dispose();
    await model.dispose();
    await loaded.opened.llama.dispose();
  });

  /** llama.cpp's sequence id (internal in node-llama-cpp). */
  const idOf = (seq: LlamaContextSequence) => (seq as unknown as { _sequenceId: number })._sequenceId;
  const anyPrompt = (slot: ContextSlot) => idOf(slot.take([], '', () => []).seq);

  /** A slot over all 4 sequences, each used once; given back in `order` (the first is the least recently used). */
  function slotUsedInOrder(order: number[]): ContextSlot {
    const slot = new ContextSlot('', []);
    sequences = [0, 1, 2, 3].map(() => context.getSequence());
    slot.attach(context, sequences);
    const taken = sequences.map(() => slot.take([], '', () => []).seq);
    for (const id of order) slot.put(taken.find((s) => idOf(s) === id) as LlamaContextSequence);
    return slot;
  }

  it('takes a sequence next to the busy ones before the least recently used', () => {
    const slot = slotUsedInOrder([3, 0, 2, 1]);
    expect(anyPrompt(slot)).toBe(3); // nothing busy: the least recently used
    // Busy {3}: the least recently used is 0, but {0, 3} decodes as two ubatches; 2 makes {2, 3}.
    expect(anyPrompt(slot)).toBe(2);
    // Busy {2, 3}: 1 extends the run (0 is less recently used but would start a second run).
    expect(anyPrompt(slot)).toBe(1);
  });

  it('takes the sequence that reuses the prompt before one next to the busy ones', async () => {
    const slot = slotUsedInOrder([3, 0, 2, 1]);
    const prompt = 'hello world, once more';
    const tokens = model.tokenize(prompt);
    const zero = sequences.find((s) => idOf(s) === 0) as LlamaContextSequence;
    await zero.evaluateWithoutGeneratingNewTokens(tokens);
    expect(anyPrompt(slot)).toBe(3);
    const { seq, common } = slot.take(tokens, prompt, (t) => model.tokenize(t));
    expect(idOf(seq)).toBe(0);
    expect(common).toBe(tokens.length);
  });
});
