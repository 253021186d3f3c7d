/**
 * JSON Schema → GBNF (llama.cpp grammar) for the draft model, so a `response_format: json_schema` answer is valid
 * JSON of the right shape by construction. Supported: type (incl. type arrays), properties/required (properties in
 * declared order; optional ones may be left out), items/prefixItems, minItems/maxItems, enum, const, anyOf/oneOf,
 * minLength/maxLength, local $ref (#/$defs/..., #/definitions/...). Everything else (pattern, format, numeric
 * bounds, ...) is left to the JSON-schema checker of the loop, which sends failures back through reflection.
 * Repetitions are bounded (strings ≤ 64 characters, arrays ≤ 8 items unless the schema says otherwise) so a
 * grammar-constrained generation always terminates within a few hundred tokens.
 */

type Schema = Record<string, unknown> | boolean;

const MAX_STRING = 64;
const MAX_ITEMS = 8;
const MAX_MEMBERS = 8;

const PRIMITIVES: Record<string, string> = {
  ws: '[ ]?',
  char: '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
  string: `"\\"" char{0,${MAX_STRING}} "\\""`,
  integer: '"-"? ([0-9] | [1-9] [0-9]{1,15})',
  number: 'integer ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?',
  boolean: '"true" | "false"',
  null: '"null"',
  value: 'object | array | string | number | boolean | null',
  object: `"{" ws (string ws ":" ws value (ws "," ws string ws ":" ws value){0,${MAX_MEMBERS - 1}})? ws "}"`,
  array: `"[" ws (value (ws "," ws value){0,${MAX_ITEMS - 1}})? ws "]"`,
};

/** A GBNF string literal matching exactly `text`. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** A grammar for any JSON object (`response_format: { type: "json_object" }`). */
export function jsonObjectGrammar(): string {
  return render(new Map([['root', 'object']]));
}

/** A grammar for JSON matching `schema` (see the module comment for what is enforced by the grammar). */
export function jsonSchemaGrammar(schema: unknown): string {
  const rules = new Map<string, string>();
  const refs = new Map<string, string>();
  let n = 0;
  const root = schema as Schema;
  const fresh = (body: string): string => {
    const name = `r${++n}`;
    rules.set(name, body);
    return name;
  };
  const resolveRef = (ref: string): Schema => {
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
    const defs =
      m && typeof root === 'object'
        ? (root[m[1] as string] as Record<string, Schema> | undefined)
        : undefined;
    const target = m
      ? defs?.[
          decodeURIComponent(m[2] as string)
            .replace(/~1/g, '/')
            .replace(/~0/g, '~')
        ]
      : undefined;
    if (target === undefined)
      throw new Error(`unsupported or unknown $ref "${ref}" (only #/$defs/NAME and #/definitions/NAME)`);
    return target;
  };
  const of = (s: Schema, depth: number): string => {
    if (depth > 32) throw new Error('the schema nests deeper than 32 levels');
    if (s === true || (typeof s === 'object' && Object.keys(s).length === 0)) return 'value';
    if (s === false) throw new Error('a schema of `false` matches nothing');
    if (typeof s.$ref === 'string') {
      const ref = s.$ref;
      let name = refs.get(ref);
      if (!name) {
        name = `r${++n}`;
        refs.set(ref, name);
        rules.set(name, of(resolveRef(ref), depth + 1));
      }
      return name;
    }
    if ('const' in s) return gbnfLiteral(JSON.stringify(s.const));
    if (Array.isArray(s.enum)) {
      if (s.enum.length === 0) throw new Error('an empty enum matches nothing');
      return `(${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(' | ')})`;
    }
    const alts = (Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined) as
      Schema[] | undefined;
    if (alts) return `(${alts.map((a) => of(a, depth + 1)).join(' | ')})`;
    const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
    if (types.length === 0) {
      if (s.properties) types.push('object');
      else if (s.items || s.prefixItems) types.push('array');
      else return 'value';
    }
    return `(${types.map((t) => ofType(s, t, depth)).join(' | ')})`;
  };
  const ofType = (s: Record<string, unknown>, type: string, depth: number): string => {
    switch (type) {
      case 'string': {
        const min = Math.max(0, Number(s.minLength ?? 0));
        const max = Math.max(min, Math.min(Number(s.maxLength ?? MAX_STRING), 4 * MAX_STRING));
        if (min === 0 && max === MAX_STRING) return 'string';
        return fresh(`"\\"" char{${min},${max}} "\\""`);
      }
      case 'integer':
      case 'number':
      case 'boolean':
      case 'null':
        return type;
      case 'array': {
        const prefix = Array.isArray(s.prefixItems) ? (s.prefixItems as Schema[]) : [];
        if (prefix.length > 0) {
          const parts = prefix.map((p) => of(p, depth + 1));
          return fresh(`"[" ws ${parts.join(' ws "," ws ')} ws "]"`);
        }
        const item = s.items === undefined ? 'value' : of(s.items as Schema, depth + 1);
        const min = Math.max(0, Number(s.minItems ?? 0));
        const max = Math.max(min, Number(s.maxItems ?? Math.max(min, MAX_ITEMS)));
        if (max === 0) return '"[" ws "]"';
        const more = `(ws "," ws ${item})`;
        const tail = min > 0 ? `${more}{${min - 1},${max - 1}}` : `${more}{0,${max - 1}}`;
        const body = min > 0 ? `${item} ${tail}` : `(${item} ${tail})?`;
        return fresh(`"[" ws ${body} ws "]"`);
      }
      case 'object': {
        const props = (s.properties ?? {}) as Record<string, Schema>;
        const names = Object.keys(props);
        if (names.length === 0) return 'object';
        const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
        const member = (k: string) =>
          `${gbnfLiteral(JSON.stringify(k))} ws ":" ws ${of(props[k] as Schema, depth + 1)}`;
        // Required members in declared order; optional ones may each be left out.
        let body = '';
        let first = true;
        for (const k of names) {
          const m = member(k);
          if (required.has(k)) {
            body += first ? ` ${m}` : ` ws "," ws ${m}`;
            first = false;
          } else if (first) {
            // An optional member before any required one: its comma belongs to the next member.
            body += ` (${m} ws "," ws)?`;
          } else body += ` (ws "," ws ${m})?`;
        }
        // A trailing comma left by leading optional members is impossible only when a required member follows;
        // without any required member, all members are optional and the rule above could end in ",": fix that.
        if (first) body = ` (${names.map(member).join(' | ')})?`;
        return fresh(`"{" ws${body} ws "}"`);
      }
      default:
        throw new Error(`unsupported JSON Schema type "${type}"`);
    }
  };
  rules.set('root', of(root, 0));
  return render(rules);
}

function render(rules: Map<string, string>): string {
  const lines = [`root ::= ${rules.get('root') as string}`];
  for (const [k, v] of rules) if (k !== 'root') lines.push(`${k} ::= ${v}`);
  for (const [k, v] of Object.entries(PRIMITIVES)) lines.push(`${k} ::= ${v}`);
  return lines.join('\n') + '\n';
}
