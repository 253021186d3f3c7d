/** GPT-2's reversible byte ↔ unicode map used by byte-level BPE vocabularies (Qwen2, GPT-2, Llama 3). */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n += 1;
    }
  }
  const map = new Array<string>(256);
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i] as number)));
  return map;
}

/** llama.cpp token types. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Token classes the model generator uses to shape output rows (what random weights tend to produce). */
export type TokenClass = 'printable' | 'other-byte' | 'control';

export interface ByteLevelVocab {
  /** Token strings in byte-unicode form, by id. */
  tokens: string[];
  types: number[];
  /** Merge rules "left right", highest priority first. */
  merges: string[];
  /** Ids of the control tokens by text. */
  special: Record<string, number>;
  classes: TokenClass[];
}

export interface ByteLevelVocabOptions {
  /** Extra tokens learned by BPE merges, as plain text (e.g. " the"); added in order, each from two existing tokens. */
  mergedWords?: readonly string[];
  /** Control tokens, e.g. `<|endoftext|>`; placed at `specialAt` (default: right after the merged tokens). */
  specials: readonly string[];
  specialAt?: number;
  /** Pad the vocabulary to this size with unique printable filler tokens (e.g. 151936 for Qwen2.5 dimensions). */
  size?: number;
}

const FILLER_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Builds a byte-level BPE vocabulary: 256 byte tokens, learned merges, control tokens and fillers. */
export function byteLevelVocab(opts: ByteLevelVocabOptions): ByteLevelVocab {
  const b2u = bytesToUnicode();
  const tokens: string[] = [];
  const classes: TokenClass[] = [];
  const ids = new Map<string, number>();
  const add = (t: string, cls: TokenClass) => {
    ids.set(t, tokens.length);
    tokens.push(t);
    classes.push(cls);
  };
  // Byte tokens in GPT-2 order: printable ASCII first (id 0 = "!").
  const cp = (b: number) => (b2u[b] as string).codePointAt(0) as number;
  const order = [...b2u.keys()].sort((a, b) => cp(a) - cp(b));
  for (const b of order)
    add(b2u[b] as string, b >= 0x20 && b <= 0x7e ? 'printable' : b === 0x0a ? 'printable' : 'other-byte');

  const merges: string[] = [];
  for (const word of opts.mergedWords ?? []) {
    const u = [...Buffer.from(word, 'utf8')].map((b) => b2u[b]).join('');
    if (ids.has(u) || u.length < 2) continue;
    // Split into the longest known left part + a known right part.
    let done = false;
    for (let cut = u.length - 1; cut >= 1 && !done; cut--) {
      const l = u.slice(0, cut);
      const r = u.slice(cut);
      if (ids.has(l) && ids.has(r)) {
        merges.push(`${l} ${r}`);
        add(u, 'printable');
        done = true;
      }
    }
  }

  const special: Record<string, number> = {};
  const specialAt = opts.specialAt ?? tokens.length;
  const size = Math.max(
    opts.size ?? 0,
    specialAt + opts.specials.length,
    tokens.length + opts.specials.length,
  );
  const types = new Array<number>(size);
  const out = new Array<string>(size);
  const outClasses = new Array<TokenClass>(size);
  tokens.forEach((t, i) => {
    out[i] = t;
    types[i] = TokenType.NORMAL;
    outClasses[i] = classes[i] as TokenClass;
  });
  opts.specials.forEach((s, i) => {
    out[specialAt + i] = s;
    types[specialAt + i] = TokenType.CONTROL;
    outClasses[specialAt + i] = 'control';
    special[s] = specialAt + i;
  });
  // Fillers: unique " xyz" words (byte-unicode "Ġxyz"), printable when detokenized.
  let k = 0;
  for (let i = 0; i < size; i++) {
    if (out[i] !== undefined) continue;
    let word: string;
    do {
      let n = k++;
      word = '';
      do {
        word += FILLER_ALPHABET[n % FILLER_ALPHABET.length];
        n = Math.floor(n / FILLER_ALPHABET.length);
      } while (n > 0);
      word = `${b2u[0x20]}${word}`;
    } while (ids.has(word));
    ids.set(word, i);
    out[i] = word;
    types[i] = TokenType.NORMAL;
    outClasses[i] = 'printable';
  }
  return { tokens: out, types, merges, special, classes: outClasses };
}

/** ChatML, as Qwen2.5 uses it (node-llama-cpp picks its ChatML wrapper from this template). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export const QWEN_SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;
