/**
 * A syntax check of GBNF grammars that mirrors llama.cpp's parser (src/llama-grammar.cpp, llama_grammar_parser) and
 * returns its error message. llama.cpp prints parse errors straight to stderr and node-llama-cpp only throws
 * "Failed to parse grammar", so the service runs this first to tell the client what is wrong.
 * It accepts what llama.cpp accepts (the native parser still has the last word).
 */
const MAX_REPETITION_THRESHOLD = 2000;

class GbnfSyntaxError extends Error {}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isWordChar = (c: string | undefined) =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '-' || isDigit(c));

/** Returns null when the grammar parses, else llama.cpp's message (e.g. "Undefined rule identifier 'foo'"). */
export function checkGbnf(src: string): string | null {
  const s = src;
  const at = (pos: number) => {
    const rest = s.slice(pos);
    return rest.length > 40 ? `${JSON.stringify(rest.slice(0, 40))}…` : JSON.stringify(rest);
  };
  const fail = (msg: string): never => {
    throw new GbnfSyntaxError(msg);
  };
  const defined = new Set<string>();
  const referenced = new Set<string>();
  // Rule structure for the left-recursion check: groups and repetitions become synthetic rules, as in llama.cpp.
  type Elem = { ref: string } | { term: true };
  const rules = new Map<string, Elem[][]>();
  const owner = new Map<string, string>();
  let synth = 0;
  const synthetic = (parent: string, alts: Elem[][]): Elem => {
    const name = `\0${synth++}`;
    rules.set(name, alts);
    owner.set(name, parent);
    return { ref: name };
  };
  let current = '';

  const parseSpace = (pos: number, newlineOk: boolean): number => {
    while (
      s[pos] === ' ' ||
      s[pos] === '\t' ||
      s[pos] === '#' ||
      (newlineOk && (s[pos] === '\r' || s[pos] === '\n'))
    ) {
      if (s[pos] === '#') while (pos < s.length && s[pos] !== '\r' && s[pos] !== '\n') pos++;
      else pos++;
    }
    return pos;
  };
  const parseName = (pos: number): number => {
    const start = pos;
    while (isWordChar(s[pos])) pos++;
    if (pos === start) fail(`expecting name at ${at(start)}`);
    return pos;
  };
  const parseInt_ = (pos: number): number => {
    const start = pos;
    while (isDigit(s[pos])) pos++;
    if (pos === start) fail(`expecting integer at ${at(start)}`);
    return pos;
  };
  const parseHex = (pos: number, size: number): number => {
    let i = 0;
    for (; i < size && pos + i < s.length; i++) if (!/[0-9a-fA-F]/.test(s[pos + i] as string)) break;
    if (i !== size) fail(`expecting ${size} hex chars at ${at(pos)}`);
    return pos + size;
  };
  const parseChar = (pos: number): number => {
    if (s[pos] === '\\') {
      switch (s[pos + 1]) {
        case 'x':
          return parseHex(pos + 2, 2);
        case 'u':
          return parseHex(pos + 2, 4);
        case 'U':
          return parseHex(pos + 2, 8);
        case 't':
        case 'r':
        case 'n':
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
          return pos + 2;
        default:
          return fail(`unknown escape at ${at(pos)}`);
      }
    }
    if (pos < s.length) return pos + ((s.codePointAt(pos) as number) > 0xffff ? 2 : 1);
    return fail('unexpected end of input');
  };
  const parseToken = (pos: number): number => {
    const start = pos;
    if (s[pos] !== '<') fail(`expecting '<' at ${at(pos)}`);
    pos++;
    if (s[pos] === '[') {
      pos = parseInt_(pos + 1);
      if (s[pos] !== ']') fail(`expecting ']' at ${at(pos)}`);
      pos++;
      if (s[pos] !== '>') fail(`expecting '>' at ${at(pos)}`);
      return pos + 1;
    }
    while (pos < s.length && s[pos] !== '>') pos++;
    if (s[pos] !== '>') fail(`expecting '>' at ${at(pos)}`);
    if (pos === start + 1) fail(`invalid token '${s.slice(start, pos + 1)}'`);
    return pos + 1;
  };

  const parseSequence = (pos: number, isNested: boolean, seq: Elem[]): number => {
    let hasPrev = false;
    let nPrevRules = 1;
    const repetition = (min: number, max: number | undefined) => {
      if (!hasPrev) fail(`expecting preceding item to */+/?/{ at ${at(pos)}`);
      const last = seq.pop() as Elem;
      const optional = synthetic(current, [[last], []]);
      seq.push(min === 0 ? optional : last);
      if (min > 0 && max !== min) seq.push(optional);
      const total = max !== undefined && max > 0 ? max : min > 0 ? min : 1;
      if (nPrevRules * total > MAX_REPETITION_THRESHOLD) {
        fail(
          'number of rules that are going to be repeated multiplied by the new repetition exceeds sane defaults, please reduce the number of repetitions or rule complexity',
        );
      }
      nPrevRules *= total;
    };
    while (pos < s.length) {
      const c = s[pos];
      if (c === '"') {
        pos++;
        let literal = false;
        while (s[pos] !== '"') {
          if (pos >= s.length) fail('unexpected end of input');
          pos = parseChar(pos);
          literal = true;
        }
        hasPrev = true;
        nPrevRules = 1;
        // An empty literal "" matches nothing: it adds no element (llama.cpp does the same).
        seq.push(literal ? { term: true } : synthetic(current, [[]]));
        pos = parseSpace(pos + 1, isNested);
      } else if (c === '[') {
        pos++;
        if (s[pos] === '^') pos++;
        while (s[pos] !== ']') {
          if (pos >= s.length) fail('unexpected end of input');
          pos = parseChar(pos);
          if (s[pos] === '-' && s[pos + 1] !== ']') {
            if (pos + 1 >= s.length) fail('unexpected end of input');
            pos = parseChar(pos + 1);
          }
        }
        hasPrev = true;
        nPrevRules = 1;
        seq.push({ term: true });
        pos = parseSpace(pos + 1, isNested);
      } else if (c === '<' || c === '!') {
        pos = parseToken(c === '!' ? pos + 1 : pos);
        hasPrev = true;
        nPrevRules = 1;
        seq.push({ term: true });
        pos = parseSpace(pos, isNested);
      } else if (isWordChar(c)) {
        const end = parseName(pos);
        const name = s.slice(pos, end);
        referenced.add(name);
        seq.push({ ref: name });
        pos = parseSpace(end, isNested);
        hasPrev = true;
        nPrevRules = 1;
      } else if (c === '(') {
        pos = parseSpace(pos + 1, true);
        const alts: Elem[][] = [];
        pos = parseAlternates(pos, true, alts);
        if (s[pos] !== ')') fail(`expecting ')' at ${at(pos)}`);
        seq.push(synthetic(current, alts));
        hasPrev = true;
        nPrevRules = Math.max(1, nPrevRules);
        pos = parseSpace(pos + 1, isNested);
      } else if (c === '.') {
        hasPrev = true;
        nPrevRules = 1;
        seq.push({ term: true });
        pos = parseSpace(pos + 1, isNested);
      } else if (c === '*' || c === '+' || c === '?') {
        pos = parseSpace(pos + 1, isNested);
        repetition(c === '+' ? 1 : 0, c === '?' ? 1 : undefined);
      } else if (c === '{') {
        pos = parseSpace(pos + 1, isNested);
        if (!isDigit(s[pos])) fail(`expecting an int at ${at(pos)}`);
        let end = parseInt_(pos);
        const min = Number(s.slice(pos, end));
        pos = parseSpace(end, isNested);
        let max: number | undefined;
        if (s[pos] === '}') {
          max = min;
          pos = parseSpace(pos + 1, isNested);
        } else if (s[pos] === ',') {
          pos = parseSpace(pos + 1, isNested);
          if (isDigit(s[pos])) {
            end = parseInt_(pos);
            max = Number(s.slice(pos, end));
            pos = parseSpace(end, isNested);
          }
          if (s[pos] !== '}') fail(`expecting '}' at ${at(pos)}`);
          pos = parseSpace(pos + 1, isNested);
        } else {
          fail(`expecting ',' at ${at(pos)}`);
        }
        if (min > MAX_REPETITION_THRESHOLD) {
          fail('number of repetitions exceeds sane defaults, please reduce the number of repetitions');
        }
        if (max !== undefined && max > MAX_REPETITION_THRESHOLD) max = undefined;
        repetition(min, max);
      } else {
        break;
      }
    }
    return pos;
  };
  const parseAlternates = (pos: number, isNested: boolean, alts: Elem[][]): number => {
    let seq: Elem[] = [];
    alts.push(seq);
    pos = parseSequence(pos, isNested, seq);
    while (s[pos] === '|') {
      pos = parseSpace(pos + 1, true);
      seq = [];
      alts.push(seq);
      pos = parseSequence(pos, isNested, seq);
    }
    return pos;
  };
  const parseRule = (pos: number): number => {
    const end = parseName(pos);
    const name = s.slice(pos, end);
    pos = parseSpace(end, false);
    if (s.slice(pos, pos + 3) !== '::=') fail(`expecting ::= at ${at(pos)}`);
    pos = parseSpace(pos + 3, true);
    current = name;
    const alts: Elem[][] = [];
    rules.set(name, alts);
    pos = parseAlternates(pos, false, alts);
    defined.add(name);
    if (s[pos] === '\r') pos += s[pos + 1] === '\n' ? 2 : 1;
    else if (s[pos] === '\n') pos++;
    else if (pos < s.length) fail(`expecting newline or end at ${at(pos)}`);
    return parseSpace(pos, true);
  };

  try {
    if (s.includes('\0')) fail('grammar contains a NUL character');
    let pos = parseSpace(0, true);
    while (pos < s.length) pos = parseRule(pos);
    for (const name of referenced) if (!defined.has(name)) fail(`Undefined rule identifier '${name}'`);
    if (!defined.has('root')) fail('grammar does not contain a root symbol');
    const recursive = leftRecursive(rules);
    if (recursive !== undefined) {
      fail(
        `unsupported grammar, left recursion detected for nonterminal '${owner.get(recursive) ?? recursive}'`,
      );
    }
    return null;
  } catch (e) {
    if (e instanceof GbnfSyntaxError) return e.message;
    throw e;
  }
}

/**
 * The first rule that can reach itself without consuming input (left recursion), which llama.cpp's grammar
 * engine rejects. Nullability is computed to a fixpoint, so this is at least as strict as llama.cpp.
 */
function leftRecursive(
  rules: Map<string, Array<Array<{ ref: string } | { term: true }>>>,
): string | undefined {
  const nullable = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const [name, alts] of rules) {
      if (nullable.has(name)) continue;
      if (alts.some((seq) => seq.every((e) => 'ref' in e && nullable.has(e.ref)))) {
        nullable.add(name);
        changed = true;
      }
    }
  }
  const leftCalls = new Map<string, string[]>();
  for (const [name, alts] of rules) {
    const calls: string[] = [];
    for (const seq of alts) {
      for (const e of seq) {
        if (!('ref' in e)) break;
        calls.push(e.ref);
        if (!nullable.has(e.ref)) break;
      }
    }
    leftCalls.set(name, calls);
  }
  const state = new Map<string, 1 | 2>();
  const visit = (name: string): string | undefined => {
    const st = state.get(name);
    if (st === 1) return name;
    if (st === 2) return undefined;
    state.set(name, 1);
    for (const next of leftCalls.get(name) ?? []) {
      const found = visit(next);
      if (found !== undefined) return found;
    }
    state.set(name, 2);
    return undefined;
  };
  for (const name of rules.keys()) {
    const found = visit(name);
    if (found !== undefined) return found;
  }
  return undefined;
}
