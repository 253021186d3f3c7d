/** A Fisher–Yates shuffle of a copy of `items` drawn from `rnd` (values in [0, 1)). */
export function shuffled<T>(items: readonly T[], rnd: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Cuts a token stream into training rows of `nCtx + 1` tokens (inputs + shifted labels). Streams shorter than one
 * row are repeated; a tail that does not fill a row becomes a last row ending at the stream's end.
 */
export function packRows(stream: readonly number[], nCtx: number): number[][] {
  if (stream.length === 0) return [];
  let s = [...stream];
  if (s.length < nCtx + 1) {
    while (s.length < nCtx + 1) s = s.concat(stream);
    s = s.slice(0, nCtx + 1);
  }
  const rows: number[][] = [];
  let start = 0;
  for (; start + nCtx + 1 <= s.length; start += nCtx) rows.push(s.slice(start, start + nCtx + 1));
  if (start < s.length - 1) rows.push(s.slice(s.length - nCtx - 1));
  return rows;
}
