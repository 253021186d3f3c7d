import { TrainerError } from './errors.js';

/** What a chat template puts around the prompt and the answer of one (system?, user, assistant) exchange. */
export interface ChatGlue {
  /** Before the user message (system turn included when there is one). */
  beforePrompt: string;
  /** Between the user message and the assistant answer. */
  beforeAnswer: string;
  /** After the assistant answer. */
  afterAnswer: string;
  /** `model` when rendered with the model's own template, `chatml` for the built-in fallback. */
  source: 'model' | 'chatml';
}

/** ChatML, the template of Qwen-style models (and of SARAi's generated models). */
export function chatmlGlue(systemPrompt?: string): ChatGlue {
  const system = systemPrompt !== undefined ? `<|im_start|>system\n${systemPrompt}<|im_end|>\n` : '';
  return {
    beforePrompt: `${system}<|im_start|>user\n`,
    beforeAnswer: '<|im_end|>\n<|im_start|>assistant\n',
    afterAnswer: '<|im_end|>\n',
    source: 'chatml',
  };
}

/** Full text of one exchange (for display and tests; training tokenizes the parts separately). */
export function renderExchange(glue: ChatGlue, prompt: string, answer: string): string {
  return glue.beforePrompt + prompt + glue.beforeAnswer + answer + glue.afterAnswer;
}

const PROMPT_SENTINEL = '\u0001SARAI_PROMPT\u0001';
const ANSWER_SENTINEL = '\u0001SARAI_ANSWER\u0001';

/**
 * Derives the glue of any template from one rendering with sentinel contents (the renderer is
 * llama_chat_apply_template with the model's template). Throws TRAINER_TOKENIZE_FAILED when the rendering does
 * not contain both sentinels in order exactly once.
 */
export function glueFromRendering(
  render: (messages: Array<{ role: string; content: string }>) => string,
  systemPrompt?: string,
): ChatGlue {
  const messages = [
    ...(systemPrompt !== undefined ? [{ role: 'system', content: systemPrompt }] : []),
    { role: 'user', content: PROMPT_SENTINEL },
    { role: 'assistant', content: ANSWER_SENTINEL },
  ];
  const text = render(messages);
  const p = text.indexOf(PROMPT_SENTINEL);
  const a = text.indexOf(ANSWER_SENTINEL);
  if (
    p < 0 ||
    a < p ||
    text.indexOf(PROMPT_SENTINEL, p + 1) >= 0 ||
    text.indexOf(ANSWER_SENTINEL, a + 1) >= 0
  ) {
    throw new TrainerError(
      'TRAINER_TOKENIZE_FAILED',
      'the model chat template does not render user and assistant turns verbatim',
    );
  }
  return {
    beforePrompt: text.slice(0, p),
    beforeAnswer: text.slice(p + PROMPT_SENTINEL.length, a),
    afterAnswer: text.slice(a + ANSWER_SENTINEL.length),
    source: 'model',
  };
}
