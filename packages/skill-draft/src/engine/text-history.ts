import type { Token } from 'node-llama-cpp';

/** Tokens and the text they spell, with the (token count, text length) points where both line up. */
export class TextHistory {
  readonly tokens: Token[];
  private text: string;
  /** Ascending (tokens, chars) boundaries. */
  private readonly marks: Array<{ tokens: number; chars: number }> = [];

  constructor(promptTokens: readonly Token[], prompt: string) {
    this.tokens = [...promptTokens];
    this.text = prompt;
    this.marks.push({ tokens: this.tokens.length, chars: prompt.length });
  }

  /** A generated token; `committed` = the text that became final with it ('' while a character is incomplete). */
  add(token: Token, committed: string): void {
    this.tokens.push(token);
    if (committed) {
      this.text += committed;
      this.marks.push({ tokens: this.tokens.length, chars: this.text.length });
    }
  }

  /** Text that became final without a new token (a decoder flush at the end). */
  commit(text: string): void {
    if (!text) return;
    this.text += text;
    this.marks.push({ tokens: this.tokens.length, chars: this.text.length });
  }

  /** The longest boundary whose text is a prefix of `prompt`. */
  longestTextPrefix(prompt: string): { tokens: number; chars: number } | undefined {
    for (let i = this.marks.length - 1; i >= 0; i--) {
      const m = this.marks[i] as { tokens: number; chars: number };
      if (m.chars <= prompt.length && prompt.startsWith(this.text.slice(0, m.chars))) return m;
    }
    return undefined;
  }
}
