import { describe, expect, it } from 'vitest';
import { checkGbnf } from './gbnf-check.js';
import { parseAdapters } from './config.js';
import { StopMatcher, TokenTextDecoder, commonPrefixLength } from './text.js';

describe('StopMatcher', () => {
  const feed = (stops: string[], pieces: string[]) => {
    const m = new StopMatcher(stops);
    let out = '';
    for (const p of pieces) {
      const r = m.push(p);
      out += r.emit;
      if (r.stopped) return { out, stopped: true };
    }
    return { out: out + m.flush(), stopped: false };
  };

  it('stops before a stop string split over several pieces and never emits part of it', () => {
    const m = new StopMatcher(['</end>']);
    expect(m.push('hello </')).toEqual({ emit: 'hello ', stopped: false });
    expect(m.push('en')).toEqual({ emit: '', stopped: false });
    expect(m.push('d> tail')).toEqual({ emit: '', stopped: true });
    expect(feed(['</end>'], ['a', '</', 'e', 'nd>', 'b'])).toEqual({ out: 'a', stopped: true });
  });

  it('releases held text that turns out not to be a stop, and the earliest of several stops wins', () => {
    expect(feed(['STOP'], ['ST', 'ART', ' ok'])).toEqual({ out: 'START ok', stopped: false });
    expect(feed(['b', 'xa'], ['zzxab'])).toEqual({ out: 'zz', stopped: true });
    expect(feed([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
});

describe('TokenTextDecoder', () => {
  it('holds bytes of an incomplete UTF-8 character until it is complete', () => {
    // Tokens are raw bytes here: "é" = C3 A9, "🙂" = F0 9F 99 82.
    const dec = new TokenTextDecoder((t) => Buffer.from(t).toString('utf8'));
    const bytes = [...Buffer.from('aé🙂b')];
    const out = bytes.map((b) => dec.push(b));
    expect(out.join('') + dec.flush()).toBe('aé🙂b');
    expect(out).toEqual(['a', '', 'é', '', '', '', '🙂', 'b']);
  });
});

describe('commonPrefixLength', () => {
  it('counts the shared leading tokens', () => {
    expect(commonPrefixLength([1, 2, 3], [1, 2, 4, 5])).toBe(2);
    expect(commonPrefixLength([], [1])).toBe(0);
    expect(commonPrefixLength([1, 2], [1, 2])).toBe(2);
  });
});

describe('checkGbnf (llama.cpp parser messages)', () => {
  it.each([
    ['root ::= "a" [0-9]* ("b" | c)+\nc ::= "x"{1,3}', null],
    ['root ::= foo', "Undefined rule identifier 'foo'"],
    ['root ::= [a-z', 'unexpected end of input'],
    ['root ::= "a" )', 'expecting newline or end at ")"'],
    ['root = "a"', 'expecting ::= at "= \\"a\\""'],
    ['x ::= "a"', 'grammar does not contain a root symbol'],
    ['root ::= root "a" | "b"', "unsupported grammar, left recursion detected for nonterminal 'root'"],
    [
      'root ::= x "a"\nx ::= "b"? root',
      "unsupported grammar, left recursion detected for nonterminal 'root'",
    ],
    ['root ::= "\\q"', 'unknown escape at "\\\\q\\""'],
  ])('%j → %j', (grammar, message) => {
    expect(checkGbnf(grammar)).toBe(message);
  });
});

describe('parseAdapters', () => {
  it('reads name=path[*scale][+path...] entries', () => {
    expect(parseAdapters('v1=/m/a.gguf, mix=/m/b.gguf*0.5+/m/c.gguf')).toEqual([
      { name: 'v1', files: [{ path: '/m/a.gguf', scale: 1 }] },
      {
        name: 'mix',
        files: [
          { path: '/m/b.gguf', scale: 0.5 },
          { path: '/m/c.gguf', scale: 1 },
        ],
      },
    ]);
    expect(parseAdapters('')).toEqual([]);
  });

  it.each([
    ['v1'],
    ['v1=/m/a.bin'],
    ['v1=/m/a.gguf,v1=/m/b.gguf'],
    ['bad name=/m/a.gguf'],
    ['v1=/m/a.gguf*x'],
  ])('rejects %j', (raw) => {
    expect(() => parseAdapters(raw)).toThrow(/adapter|name=path/);
  });
});
