/** Deep equality of two JSON values: objects compare by keys regardless of order, arrays by position. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  return (
    ak.length === Object.keys(bo).length && ak.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k], bo[k]))
  );
}

/** Parses the JSON a test returned; `undefined` stands for the value `undefined` (or unparseable text). */
export function parseGot(got: string): unknown {
  if (got === 'undefined' || got === '') return undefined;
  try {
    return JSON.parse(got) as unknown;
  } catch {
    return undefined;
  }
}
