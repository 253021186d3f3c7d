import { TrainerError } from '../errors.js';
import { chatmlGlue, glueFromRendering, type ChatGlue } from '../chat.js';
import type { LlamaLibrary, Ptr } from '../ffi/library.js';
import type { TrainRun } from './session.js';
import type { ChatPair } from './types.js';

/** The glue of the model's own chat template (llama_chat_apply_template), or ChatML when the model has none. */
export function chatGlue(lib: LlamaLibrary, model: Ptr, systemPrompt?: string): ChatGlue {
  const template = lib.fn.llama_model_chat_template(model, null);
  if (template === null || template === '') return chatmlGlue(systemPrompt);
  return glueFromRendering((messages) => {
    let buf = Buffer.alloc(4096);
    let n = lib.fn.llama_chat_apply_template(template, messages, messages.length, false, buf, buf.length);
    if (n > buf.length) {
      buf = Buffer.alloc(n);
      n = lib.fn.llama_chat_apply_template(template, messages, messages.length, false, buf, buf.length);
    }
    if (n < 0)
      throw new TrainerError('TRAINER_TOKENIZE_FAILED', 'llama.cpp does not know the model chat template');
    return buf.toString('utf8', 0, n);
  }, systemPrompt);
}

/**
 * Token streams of the train and eval pairs in the model's chat format: template parts tokenized with special
 * tokens, contents without (so user text can never inject control tokens).
 */
export function tokenStreams(
  run: TrainRun,
  model: Ptr,
): { glue: ChatGlue; trainStream: number[]; evalStream: number[] } {
  const { fn, options } = run;
  const vocab = fn.llama_model_get_vocab(model);
  const glue = chatGlue(run.lib, model, options.systemPrompt);
  const tokenize = (text: string, special: boolean): number[] => {
    if (text === '') return [];
    let out = new Int32Array(Buffer.byteLength(text, 'utf8') + 16);
    let n = fn.llama_tokenize(vocab, text, Buffer.byteLength(text, 'utf8'), out, out.length, false, special);
    if (n < 0) {
      out = new Int32Array(-n);
      n = fn.llama_tokenize(vocab, text, Buffer.byteLength(text, 'utf8'), out, out.length, false, special);
    }
    if (n < 0) throw new TrainerError('TRAINER_TOKENIZE_FAILED', 'llama_tokenize failed');
    return Array.from(out.subarray(0, n));
  };
  const streamOf = (pairsIn: readonly ChatPair[]): number[] =>
    pairsIn.flatMap((p) => [
      ...tokenize(glue.beforePrompt, true),
      ...tokenize(p.prompt, false),
      ...tokenize(glue.beforeAnswer, true),
      ...tokenize(p.answer, false),
      ...tokenize(glue.afterAnswer, true),
    ]);
  const evalPairs = options.eval.length > 0 ? options.eval : options.train;
  return { glue, trainStream: streamOf(options.train), evalStream: streamOf(evalPairs) };
}
