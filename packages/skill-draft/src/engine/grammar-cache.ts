import type { LlamaGrammar } from 'node-llama-cpp';
import { DraftError } from '../errors.js';
import { checkGbnf } from '../gbnf-check.js';

/** Compiled GBNF grammars by text, most recently used kept (at most `max`); bad grammars fail DRAFT_BAD_GRAMMAR. */
export class GrammarCache {
  private readonly grammars = new Map<string, LlamaGrammar>();

  constructor(
    private readonly compile: (text: string) => Promise<LlamaGrammar>,
    /** llama.cpp's recent error lines (e.g. a left recursion), appended to the message. */
    private readonly takeErrors: () => string,
    private readonly max = 32,
  ) {}

  /** The compiled grammar (synchronously when cached). */
  get(text: string): LlamaGrammar | Promise<LlamaGrammar> {
    const cached = this.grammars.get(text);
    if (cached) {
      this.grammars.delete(text);
      this.grammars.set(text, cached);
      return cached;
    }
    const problem = checkGbnf(text);
    if (problem) throw new DraftError('DRAFT_BAD_GRAMMAR', `invalid grammar: ${problem}`);
    return this.compile(text).then(
      (g) => {
        this.grammars.set(text, g);
        if (this.grammars.size > this.max) this.grammars.delete(this.grammars.keys().next().value as string);
        return g;
      },
      (e: unknown) => {
        throw new DraftError(
          'DRAFT_BAD_GRAMMAR',
          `invalid grammar: ${(e as Error).message}${this.takeErrors()}`,
        );
      },
    );
  }
}
