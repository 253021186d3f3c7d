/**
 * Stop strings honoured across token boundaries: text is released only once it cannot be the start of a stop
 * string, and generation ends at the first stop, which is not part of the output.
 */
export class StopMatcher {
  private pending = '';
  private readonly stops: readonly string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /**
   * Adds generated text; returns the text that is now safe to emit, and whether a stop string was reached
   * (the returned text then ends right before it).
   */
  push(text: string): { emit: string; stopped: boolean } {
    this.pending += text;
    if (this.stops.length === 0) {
      const emit = this.pending;
      this.pending = '';
      return { emit, stopped: false };
    }
    let first = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) {
      const emit = this.pending.slice(0, first);
      this.pending = '';
      return { emit, stopped: true };
    }
    // Hold back the longest suffix that is a proper prefix of some stop string.
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    const emit = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { emit, stopped: false };
  }

  /** Generation ended without a stop: whatever was held back is output after all. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}

/** Up to this many tokens are held while their bytes do not yet form complete UTF-8 characters. */
const MAX_PENDING_TOKENS = 4;

/**
 * Turns tokens into text incrementally. A character split over several byte tokens is released once complete,
 * so streamed pieces concatenate to exactly the text of the whole token list.
 */
export class TokenTextDecoder {
  private pending: number[] = [];
  private readonly recent: number[] = [];

  constructor(
    private readonly detokenize: (tokens: readonly number[], lastTokens: readonly number[]) => string,
  ) {}

  push(token: number): string {
    this.pending.push(token);
    const text = this.detokenize(this.pending, this.recent);
    if (text.endsWith('\uFFFD') && this.pending.length < MAX_PENDING_TOKENS) return '';
    return this.commit(text);
  }

  flush(): string {
    if (this.pending.length === 0) return '';
    return this.commit(this.detokenize(this.pending, this.recent));
  }

  private commit(text: string): string {
    this.recent.push(...this.pending);
    if (this.recent.length > 8) this.recent.splice(0, this.recent.length - 8);
    this.pending = [];
    return text;
  }
}

/** Length of the common prefix of two token lists. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
