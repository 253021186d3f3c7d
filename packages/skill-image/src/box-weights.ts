/**
 * Overlap weights of the source cells [0, size) for each of `size` target cells covering [e·size, (1 − e)·size)
 * (area-weighted box resampling: exact for block-mean thumbnails whose cells are uniform). Used to compare a
 * thumbnail with the centred crop of another one.
 */
export function boxWeights(e: number, size: number): Array<Array<[number, number]>> {
  const step = 1 - 2 * e;
  const out: Array<Array<[number, number]>> = [];
  for (let t = 0; t < size; t++) {
    const lo = e * size + t * step;
    const hi = lo + step;
    const w: Array<[number, number]> = [];
    for (let i = Math.floor(lo); i < Math.min(size, Math.ceil(hi)); i++) {
      const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
      if (overlap > 0) w.push([i, overlap / step]);
    }
    out.push(w);
  }
  return out;
}
